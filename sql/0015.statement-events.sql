-- Event rows written once per statement, not once per row. The row triggers (0001, 0010,
-- 0013) ran a PL/pgSQL function and a one-row INSERT into the partitioned events table for
-- every job a statement changed: about half of what a claim, a group-committed finish or a
-- batch insert of 100 jobs cost Postgres (measured: 12.5 -> 7.5 ms a claim of 100, 12.8 ->
-- 7.8 ms their finish, 9.7 -> 4.6 ms their insert). Statement triggers with transition
-- tables write the same rows with one INSERT ... SELECT, in the same transaction as the
-- change: a state change still cannot commit without its event.
--
-- What each changed row's event is, as before: an insert, or a change of status, is a
-- `status` event; a change of the output with the same status an `output` event (its offset
-- and chunk); a job that became runnable (its last dependency done, `waiting` down to 0,
-- status unchanged) a `status` event; any other change that moves event_seq a `progress`
-- event. A change that leaves event_seq as it was (lease renewal, a dependency count still
-- above zero) writes none. (An UPDATE trigger with transition tables cannot name columns, so
-- it runs for every UPDATE of content_jobs, and picks the rows whose event_seq moved.)
-- depends: 0014.trace-context

DROP TRIGGER content_jobs_event_on_insert ON content_jobs;
DROP TRIGGER content_jobs_event_on_change ON content_jobs;
DROP TRIGGER content_jobs_runnable_event ON content_jobs;
DROP FUNCTION content_jobs_runnable_event();

CREATE FUNCTION content_jobs_append_inserted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_events (job_id, seq, event_type, data)
    SELECT n.id, n.event_seq, 'status',
           content_job_event_data(n.id, n.status, n.progress_percent, n.progress_message,
                                  n.result_asset_id, n.error_message)
    FROM inserted_jobs n;
    RETURN NULL;
END
$$;

CREATE FUNCTION content_jobs_append_changed_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_events (job_id, seq, event_type, data)
    SELECT n.id, n.event_seq,
           CASE WHEN o.status <> n.status THEN 'status'
                WHEN n.output_chars <> o.output_chars THEN 'output'
                WHEN o.waiting > 0 AND n.waiting = 0 THEN 'status'
                ELSE 'progress' END,
           CASE WHEN o.status = n.status AND n.output_chars <> o.output_chars
                THEN jsonb_build_object('jobId', n.id, 'offset', o.output_chars,
                                        'chunk', n.output_chunk)
                ELSE content_job_event_data(n.id, n.status, n.progress_percent,
                                            n.progress_message, n.result_asset_id,
                                            n.error_message) END
    FROM changed_jobs n JOIN previous_jobs o ON o.id = n.id
    WHERE n.event_seq <> o.event_seq;
    RETURN NULL;
END
$$;

CREATE TRIGGER content_jobs_events_on_insert AFTER INSERT ON content_jobs
    REFERENCING NEW TABLE AS inserted_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION content_jobs_append_inserted_events();
CREATE TRIGGER content_jobs_events_on_update AFTER UPDATE ON content_jobs
    REFERENCING OLD TABLE AS previous_jobs NEW TABLE AS changed_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION content_jobs_append_changed_events();

-- The row function stays for the rollback's triggers; nothing calls it meanwhile.
