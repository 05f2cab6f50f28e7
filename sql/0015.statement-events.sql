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
--
-- The same for what an ended job does to the jobs that wait on it (0010's
-- content_jobs_release_dependents ran a PL/pgSQL function per finished job: 30 % of a group
-- commit's finish of 100 jobs): one statement trigger looks for the dependents and children
-- of all the jobs the statement ended, with the same effects and NOTIFY hints.
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

-- A job ended: its dependents and (when cancelled) its children learn of it. Done: each
-- dependent waits for one job fewer (a count reaching 0 makes it runnable: its event above,
-- and a hint to the workers). Failed or cancelled: its queued dependents are cancelled (their
-- update runs this trigger again for their own dependents). Cancelled: its queued and running
-- children too.
CREATE FUNCTION content_jobs_release_ended() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    runnable boolean := false;
BEGIN
    -- most statements end no job (and a statement trigger runs even for none: the updates
    -- below would otherwise run it again, without end)
    IF NOT EXISTS (SELECT 1 FROM changed_jobs e JOIN previous_jobs o ON o.id = e.id
                   WHERE e.status <> o.status AND e.status IN ('done', 'failed', 'cancelled'))
    THEN
        RETURN NULL;
    END IF;
    FOR changed IN
        UPDATE content_jobs j
        SET waiting = j.waiting - r.n,
            updated_at = CASE WHEN j.waiting = r.n THEN now() ELSE j.updated_at END,
            event_seq = j.event_seq + CASE WHEN j.waiting = r.n THEN 1 ELSE 0 END
        FROM (SELECT d.id, count(*) AS n
              FROM changed_jobs e
              JOIN previous_jobs o ON o.id = e.id
              JOIN content_jobs d ON d.depends_on @> ARRAY[e.id]
              WHERE e.status = 'done' AND o.status <> 'done'
                AND d.status = 'queued' AND d.waiting > 0
              GROUP BY d.id) r
        WHERE j.id = r.id
        RETURNING j.id, j.event_seq, j.waiting
    LOOP
        IF changed.waiting = 0 THEN
            runnable := true;
            PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
        END IF;
    END LOOP;
    IF runnable THEN
        PERFORM pg_notify('content_jobs_queued', '');
    END IF;
    FOR changed IN
        UPDATE content_jobs j
        SET status = 'cancelled', error_message = format('dependency %s %s', e.id, e.status),
            waiting = 0, finished_at = now(), updated_at = now(), lease_expires_at = NULL,
            event_seq = j.event_seq + 1
        FROM changed_jobs e JOIN previous_jobs o ON o.id = e.id
        WHERE e.status IN ('failed', 'cancelled') AND o.status <> e.status
          AND j.depends_on @> ARRAY[e.id] AND j.status = 'queued'
        RETURNING j.id, j.event_seq
    LOOP
        PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
    END LOOP;
    FOR changed IN
        UPDATE content_jobs j
        SET status = 'cancelled', error_message = format('parent %s cancelled', e.id),
            waiting = 0, finished_at = now(), updated_at = now(), lease_expires_at = NULL,
            event_seq = j.event_seq + 1
        FROM changed_jobs e JOIN previous_jobs o ON o.id = e.id
        WHERE e.status = 'cancelled' AND o.status <> 'cancelled'
          AND j.parent_job_id = e.id AND j.status IN ('queued', 'running')
        RETURNING j.id, j.event_seq
    LOOP
        PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER content_jobs_release_dependents ON content_jobs;
-- named to run after content_jobs_events_on_update (statement triggers of one event run in
-- name order): the ended jobs' events come before their dependents'
CREATE TRIGGER content_jobs_release_ended AFTER UPDATE ON content_jobs
    REFERENCING OLD TABLE AS previous_jobs NEW TABLE AS changed_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION content_jobs_release_ended();

-- The row functions stay for the rollback's triggers; nothing calls them meanwhile.
