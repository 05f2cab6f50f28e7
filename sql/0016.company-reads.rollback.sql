-- transactional: false
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_created_plain;
CREATE INDEX CONCURRENTLY content_jobs_company_created_plain
    ON content_jobs (company_id, created_at DESC, id DESC);
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_created;
ALTER INDEX content_jobs_company_created_plain RENAME TO content_jobs_company_created;
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_task;
