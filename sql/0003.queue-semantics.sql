-- Queue semantics: when a job may start (`run_at`: its submit time, a requested delay, or the
-- backoff after a failed attempt) and its priority; indexes for the fair claim, the
-- workers' timer and the per-company caps.
-- depends: 0002.asset-objects

ALTER TABLE content_jobs
    ADD COLUMN run_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    ADD COLUMN priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN -100 AND 100);

UPDATE content_jobs SET run_at = created_at;

DROP INDEX content_jobs_queued;
-- the fair claim: each company's queued jobs in claiming order (a company is one index range)
CREATE INDEX content_jobs_ready ON content_jobs (company_id, priority DESC, run_at, id)
    WHERE status = 'queued';
-- the workers' timer (the earliest run_at still to come) and the queue gauges
CREATE INDEX content_jobs_queued_run_at ON content_jobs (run_at) WHERE status = 'queued';
-- COMPANY_MAX_RUNNING: a company's running jobs
CREATE INDEX content_jobs_running_company ON content_jobs (company_id) WHERE status = 'running';
