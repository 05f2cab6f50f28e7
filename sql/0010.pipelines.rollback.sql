DROP TRIGGER content_jobs_runnable_event ON content_jobs;
DROP FUNCTION content_jobs_runnable_event();
DROP TRIGGER content_jobs_release_dependents ON content_jobs;
DROP FUNCTION content_jobs_release_dependents();
DROP TRIGGER content_jobs_count_waiting ON content_jobs;
DROP FUNCTION content_jobs_count_waiting();
DROP FUNCTION content_jobs_dependency_state(uuid[], text);
DROP INDEX content_jobs_child_key;
DROP INDEX content_jobs_parent;
DROP INDEX content_jobs_depends_on;
DROP INDEX content_jobs_runnable;
-- jobs still waiting would be claimable at once after the rollback: they are cancelled
UPDATE content_jobs
SET status = 'cancelled', error_message = 'dependencies dropped by a rollback',
    finished_at = now(), updated_at = now(), event_seq = event_seq + 1
WHERE status = 'queued' AND waiting > 0;
ALTER TABLE content_jobs
    DROP CONSTRAINT content_jobs_child_key_has_parent,
    DROP COLUMN child_key, DROP COLUMN parent_job_id, DROP COLUMN waiting, DROP COLUMN depends_on;
