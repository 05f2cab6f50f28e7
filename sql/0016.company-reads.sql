-- Two reads of one company's jobs that must not grow with its finished jobs (bench/history.py
-- measures them beside a million: BENCHMARKS.md, "Flat with history").
-- transactional: false
-- depends: 0015.statement-events
--
-- - The list filtered by `sourceTaskId` (a task's few jobs) walked the company's every job,
--   newest first, looking for them: 20,000 rows (~100 ms) per page for a company with 20,000
--   finished jobs, and no end to it as the history grows. An index of (company, task) in the
--   list's order finds a page of them directly. Partial: jobs submitted without a task, and
--   the writes of their state changes, pay nothing for it.
-- - The overview (`job_overview`, a company's jobs counted by type and status, read about once
--   a second per company while a page shows it) read every job row of the company: 20,000 heap
--   pages for 20,000 jobs. The list's index now carries the type and the status, so the count
--   is an index-only scan (~200 pages for the same jobs, ~100x fewer). It replaces the list's
--   index rather than adding one, so a job's writes maintain no more index entries than before
--   (a status change is never a HOT update: the status is in the partial indexes' predicates).
--
-- Built CONCURRENTLY, outside a transaction (hence `transactional: false`): on a table with
-- millions of jobs a plain CREATE INDEX would hold up every submit and state change for the
-- whole build. Each step can be run again after an interrupted run.

DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_task;
CREATE INDEX CONCURRENTLY content_jobs_company_task
    ON content_jobs (company_id, source_task_id, created_at DESC, id DESC)
    WHERE source_task_id IS NOT NULL;

DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_created_counted;
CREATE INDEX CONCURRENTLY content_jobs_company_created_counted
    ON content_jobs (company_id, created_at DESC, id DESC) INCLUDE (job_type, status);
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_company_created;
ALTER INDEX content_jobs_company_created_counted RENAME TO content_jobs_company_created;
