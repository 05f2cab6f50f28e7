-- Pipelines: jobs that wait for other jobs (`dependsOn`) and child jobs a handler creates
-- (`parentJobId`, idempotent per parent by `child_key`).
--
-- A job waiting on dependencies is `queued` with `waiting` > 0: the number of its
-- dependencies not yet `done`. The claim takes only `waiting = 0` jobs, through an index of
-- exactly those, so a backlog of waiting jobs costs the claim nothing. The counter is kept
-- by triggers, in the transactions that end the dependencies: a dependency ending `done`
-- takes one off each dependent (the last one off is the dependent's `status` event: it is
-- runnable); one ending `failed` or `cancelled` cancels its queued dependents at once, and
-- their own cancellations cancel theirs, down the chain. A cancelled job also cancels its
-- unfinished children. Every such change bumps the row's `event_seq`, so the trigger of
-- 0001.initial.sql writes its event, and it NOTIFYs the job's channel (and the workers',
-- when jobs became runnable) as the notifier would.
--
-- Races: a dependent inserted (or retried) while one of its dependencies ends would miss
-- the end's update of its dependents (not visible yet) and wait forever. So the insert and
-- the retry lock the dependencies FOR SHARE while they count them: an end in flight is
-- waited for (and then seen), and an end that comes later waits for the dependent's commit
-- (and then sees it, each statement of a trigger reading a fresh snapshot).
-- depends: 0009.webhook-secrets

ALTER TABLE content_jobs
    ADD COLUMN depends_on    uuid[] CHECK (cardinality(depends_on) BETWEEN 1 AND 100),
    ADD COLUMN waiting       integer NOT NULL DEFAULT 0 CHECK (waiting >= 0),
    ADD COLUMN parent_job_id uuid,
    ADD COLUMN child_key     text CHECK (char_length(child_key) BETWEEN 1 AND 200),
    ADD CONSTRAINT content_jobs_child_key_has_parent
        CHECK (child_key IS NULL OR parent_job_id IS NOT NULL);

-- the claim: each company's runnable jobs in claiming order (content_jobs_ready, of every
-- queued job, still serves the queue quota's count)
CREATE INDEX content_jobs_runnable ON content_jobs (company_id, priority DESC, run_at, id)
    WHERE status = 'queued' AND waiting = 0;
-- a job's dependents (when it ends)
CREATE INDEX content_jobs_depends_on ON content_jobs USING gin (depends_on)
    WHERE depends_on IS NOT NULL;
-- a job's children (the list filter, a cancel), and one child per key per parent
CREATE INDEX content_jobs_parent ON content_jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE UNIQUE INDEX content_jobs_child_key ON content_jobs (parent_job_id, child_key)
    WHERE child_key IS NOT NULL;

-- How many of `deps` (of `company`) are not done yet, the first one that ended failed or
-- cancelled (NULL if none), and how many exist: the dependencies locked FOR SHARE, in id
-- order, so that no end of one can be in flight unseen.
CREATE FUNCTION content_jobs_dependency_state(
    deps uuid[], company text, OUT pending integer, OUT ended uuid, OUT ended_status text,
    OUT existing integer
) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT count(*) FILTER (WHERE d.status <> 'done'),
           (array_agg(d.id ORDER BY d.id) FILTER (WHERE d.status IN ('failed', 'cancelled')))[1],
           (array_agg(d.status ORDER BY d.id)
                FILTER (WHERE d.status IN ('failed', 'cancelled')))[1],
           count(*)
    INTO pending, ended, ended_status, existing
    FROM (SELECT j.id, j.status FROM content_jobs j
          WHERE j.id = ANY (deps) AND j.company_id = company
          ORDER BY j.id FOR SHARE) d;
END
$$;

-- A new job with dependencies: how many it waits for; cancelled at once when one of them
-- ended failed or cancelled already. Ids that are not jobs of its company are refused (the
-- API checks them first; this is the last word, e.g. for a dependency pruned meanwhile).
CREATE FUNCTION content_jobs_count_waiting() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    state record;
BEGIN
    state := content_jobs_dependency_state(NEW.depends_on, NEW.company_id);
    IF state.existing < cardinality(NEW.depends_on) THEN
        RAISE EXCEPTION 'dependsOn names jobs that are not jobs of this company'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF state.ended IS NOT NULL THEN
        NEW.status := 'cancelled';
        NEW.error_message := format('dependency %s %s', state.ended, state.ended_status);
        NEW.finished_at := clock_timestamp();
        NEW.waiting := 0;
    ELSE
        NEW.waiting := state.pending;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER content_jobs_count_waiting BEFORE INSERT ON content_jobs
    FOR EACH ROW WHEN (NEW.depends_on IS NOT NULL)
    EXECUTE FUNCTION content_jobs_count_waiting();

-- A job ended: its dependents and (when cancelled) its children learn of it.
CREATE FUNCTION content_jobs_release_dependents() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    runnable boolean := false;
BEGIN
    IF NEW.status = 'done' THEN
        FOR changed IN
            UPDATE content_jobs
            SET waiting = waiting - 1,
                updated_at = CASE WHEN waiting = 1 THEN now() ELSE updated_at END,
                event_seq = event_seq + CASE WHEN waiting = 1 THEN 1 ELSE 0 END
            WHERE depends_on @> ARRAY[NEW.id] AND status = 'queued' AND waiting > 0
            RETURNING id, event_seq, waiting
        LOOP
            IF changed.waiting = 0 THEN
                runnable := true;
                PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
            END IF;
        END LOOP;
        IF runnable THEN
            PERFORM pg_notify('content_jobs_queued', '');
        END IF;
        RETURN NULL;
    END IF;
    -- failed or cancelled: each cancellation below runs this trigger for its own dependents
    FOR changed IN
        UPDATE content_jobs
        SET status = 'cancelled', error_message = format('dependency %s %s', NEW.id, NEW.status),
            waiting = 0, finished_at = now(), updated_at = now(), lease_expires_at = NULL,
            event_seq = event_seq + 1
        WHERE depends_on @> ARRAY[NEW.id] AND status = 'queued'
        RETURNING id, event_seq
    LOOP
        PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
    END LOOP;
    IF NEW.status = 'cancelled' THEN
        FOR changed IN
            UPDATE content_jobs
            SET status = 'cancelled', error_message = format('parent %s cancelled', NEW.id),
                waiting = 0, finished_at = now(), updated_at = now(), lease_expires_at = NULL,
                event_seq = event_seq + 1
            WHERE parent_job_id = NEW.id AND status IN ('queued', 'running')
            RETURNING id, event_seq
        LOOP
            PERFORM pg_notify('content_job:' || changed.id, changed.id || ':' || changed.event_seq);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER content_jobs_release_dependents AFTER UPDATE OF status ON content_jobs
    FOR EACH ROW WHEN (OLD.status <> NEW.status AND NEW.status IN ('done', 'failed', 'cancelled'))
    EXECUTE FUNCTION content_jobs_release_dependents();

-- The event of a job that became runnable (its last dependency done, its status unchanged)
-- is a `status` event, not a `progress` one: a stream shows it as the job's state changing.
-- This trigger is named to run after content_jobs_event_on_change (triggers of one event run
-- in name order), which wrote the row as a change without a new status.
CREATE FUNCTION content_jobs_runnable_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE content_job_events SET event_type = 'status'
    WHERE job_id = NEW.id AND seq = NEW.event_seq;
    RETURN NULL;
END
$$;

CREATE TRIGGER content_jobs_runnable_event AFTER UPDATE OF waiting ON content_jobs
    FOR EACH ROW WHEN (OLD.waiting > 0 AND NEW.waiting = 0 AND NEW.status = 'queued'
                       AND OLD.status = 'queued' AND NEW.event_seq <> OLD.event_seq)
    EXECUTE FUNCTION content_jobs_runnable_event();
