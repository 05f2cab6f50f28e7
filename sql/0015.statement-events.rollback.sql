DROP TRIGGER content_jobs_release_ended ON content_jobs;
DROP FUNCTION content_jobs_release_ended();
CREATE TRIGGER content_jobs_release_dependents AFTER UPDATE OF status ON content_jobs
    FOR EACH ROW WHEN (OLD.status <> NEW.status AND NEW.status IN ('done', 'failed', 'cancelled'))
    EXECUTE FUNCTION content_jobs_release_dependents();

DROP TRIGGER content_jobs_events_on_update ON content_jobs;
DROP TRIGGER content_jobs_events_on_insert ON content_jobs;
DROP FUNCTION content_jobs_append_changed_events();
DROP FUNCTION content_jobs_append_inserted_events();

CREATE TRIGGER content_jobs_event_on_insert AFTER INSERT ON content_jobs
    FOR EACH ROW EXECUTE FUNCTION content_jobs_append_event();
CREATE TRIGGER content_jobs_event_on_change AFTER UPDATE OF event_seq ON content_jobs
    FOR EACH ROW WHEN (NEW.event_seq <> OLD.event_seq)
    EXECUTE FUNCTION content_jobs_append_event();

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
