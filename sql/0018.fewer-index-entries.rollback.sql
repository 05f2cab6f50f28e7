-- transactional: false
CREATE INDEX CONCURRENTLY IF NOT EXISTS content_jobs_running_lease
    ON content_jobs (lease_expires_at) WHERE status = 'running';
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_idempotency_unique;
CREATE UNIQUE INDEX CONCURRENTLY content_jobs_idempotency_unique
    ON content_jobs (company_id, idempotency_key);
ALTER TABLE content_jobs
    ADD CONSTRAINT content_jobs_idempotency_unique UNIQUE USING INDEX content_jobs_idempotency_unique;
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_idempotency;
