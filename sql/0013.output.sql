-- Streamed output (issue 20): a handler's `ctx.output(text)` becomes `output` events on the
-- job's stream, and the whole output so far is served by GET .../content-jobs/{id}/output.
-- depends: 0009.webhook-secrets
--
-- An output write is a state change like progress: one statement, fenced by the run token,
-- that moves the job's event_seq, so the trigger appends its event in the same transaction
-- (replayable with Last-Event-ID, numbered with no gap among the job's other events).
-- * content_jobs.output_chars / output_bytes: the output's length so far (an `output` event's
--   `offset` is the chars before its chunk); output_truncated: some output was dropped at
--   JOB_OUTPUT_MAX_BYTES; output_chunk: the chunk of the job's latest `output` event (what
--   the trigger puts in the event row; one coalesced write, not the whole output).
-- * content_job_outputs: the accumulated text, one row per job (not one per chunk), out of
--   the job row so the many `SELECT *` of jobs do not carry up to a megabyte each. It goes
--   with its job (prune deletes jobs; the cascade takes it), like the job's event rows.
-- A job's output accumulates across its attempts: a retried or reaped job's next run appends.

ALTER TABLE content_jobs
    ADD COLUMN output_chars integer NOT NULL DEFAULT 0 CHECK (output_chars >= 0),
    ADD COLUMN output_bytes integer NOT NULL DEFAULT 0 CHECK (output_bytes >= 0),
    ADD COLUMN output_truncated boolean NOT NULL DEFAULT false,
    ADD COLUMN output_chunk text;

CREATE TABLE content_job_outputs (
    job_id uuid PRIMARY KEY REFERENCES content_jobs (id) ON DELETE CASCADE,
    text   text NOT NULL
);

-- On the partitioned parent: its partitions lose the old constraint and inherit the new one.
-- The old one's name is Postgres's choice (0005 created it beside a namesake), so it is found
-- by what it checks.
DO $$
DECLARE
    old_check text;
BEGIN
    FOR old_check IN
        SELECT conname FROM pg_constraint
        WHERE conrelid = 'content_job_events'::regclass AND contype = 'c'
          AND pg_get_constraintdef(oid) LIKE '%event_type%'
    LOOP
        EXECUTE format('ALTER TABLE content_job_events DROP CONSTRAINT %I', old_check);
    END LOOP;
END
$$;
ALTER TABLE content_job_events ADD CONSTRAINT content_job_events_type
    CHECK (event_type IN ('status', 'progress', 'output'));

-- 0001's trigger, plus: a change of the output (same status) is an `output` event.
CREATE OR REPLACE FUNCTION content_jobs_append_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND NEW.output_chars <> OLD.output_chars THEN
        INSERT INTO content_job_events (job_id, seq, event_type, data)
        VALUES (NEW.id, NEW.event_seq, 'output',
                jsonb_build_object('jobId', NEW.id, 'offset', OLD.output_chars,
                                   'chunk', NEW.output_chunk));
        RETURN NULL;
    END IF;
    INSERT INTO content_job_events (job_id, seq, event_type, data)
    VALUES (
        NEW.id,
        NEW.event_seq,
        CASE WHEN TG_OP = 'INSERT' OR OLD.status <> NEW.status THEN 'status' ELSE 'progress' END,
        content_job_event_data(NEW.id, NEW.status, NEW.progress_percent, NEW.progress_message,
                               NEW.result_asset_id, NEW.error_message));
    RETURN NULL;
END
$$;
