-- Fewer index entries per state change. A claim and a finish are never HOT updates (the status
-- is in the partial indexes' predicates), so each adds an entry to every index whose predicate
-- the new row version meets: a claim to six (the primary key, the company's list, the
-- idempotency key's, and the two indexes of running jobs), a finish to five. Two of them were
-- there for rare reads:
--
-- - The idempotency key's unique index held every job, keyed or not (a NULL key is indexed
--   like any value). Now it holds only jobs submitted with a key: jobs without one, and every
--   state change of theirs, pay nothing for it. `insert_job` names the index's predicate in its
--   ON CONFLICT, which a full unique index also satisfies (the rollback's).
-- - The lease reaper's index of running jobs by lease expiry: the reaper now reads the running
--   jobs through the index of running jobs by company (running jobs are at most the workers'
--   concurrency, thousands, not the backlog), and a lease renewal, which changes only the
--   expiry, no longer touches an indexed column: it can be a HOT update.
--
-- Measured (claim and finish of 100 jobs, interleaved between a database with and without
-- this change, BENCHMARKS.md "Execution"): ~7 % less of their statement time.
--
-- Built and dropped CONCURRENTLY, outside a transaction (a plain CREATE INDEX would hold up
-- every submit and state change while it reads a table of millions of jobs); each step can be
-- run again after an interrupted run.
-- transactional: false
-- depends: 0017.queue-locality

DROP INDEX CONCURRENTLY IF EXISTS content_jobs_idempotency;
CREATE UNIQUE INDEX CONCURRENTLY content_jobs_idempotency
    ON content_jobs (company_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
ALTER TABLE content_jobs DROP CONSTRAINT IF EXISTS content_jobs_idempotency_unique;
DROP INDEX CONCURRENTLY IF EXISTS content_jobs_running_lease;
