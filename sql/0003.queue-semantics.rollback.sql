DROP INDEX content_jobs_running_company;
DROP INDEX content_jobs_queued_run_at;
DROP INDEX content_jobs_ready;
CREATE INDEX content_jobs_queued ON content_jobs (created_at, id) WHERE status = 'queued';
ALTER TABLE content_jobs DROP COLUMN priority, DROP COLUMN run_at;
