-- Every claim hands its run a token that never repeats (a sequence), and every write of the
-- run is fenced by it. The fence used to be (worker, attempt), which repeats: `retry` starts
-- attempts over at 1, and a reaped job keeps its attempt at the limit, so a job claimed again
-- by the same worker gave the new run the old run's fence, and a cancelled run could finish
-- the retried job.
-- depends: 0006.queue-statistics

CREATE SEQUENCE content_jobs_run_token_seq AS bigint;

-- the token of the job's current (or latest) run; NULL until its first claim
ALTER TABLE content_jobs ADD COLUMN run_token bigint;
