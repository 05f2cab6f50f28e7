CREATE OR REPLACE FUNCTION content_jobs_append_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
DELETE FROM content_job_events WHERE event_type = 'output';
ALTER TABLE content_job_events DROP CONSTRAINT content_job_events_type;
ALTER TABLE content_job_events ADD CONSTRAINT content_job_events_type
    CHECK (event_type IN ('status', 'progress'));
DROP TABLE content_job_outputs;
ALTER TABLE content_jobs
    DROP COLUMN output_chars, DROP COLUMN output_bytes, DROP COLUMN output_truncated,
    DROP COLUMN output_chunk;
