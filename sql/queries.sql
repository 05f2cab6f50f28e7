-- Runtime SQL of content-jobs. Each block is one named query; `service/db/queries.py`
-- parses this file once and `service/db/store.py` is its only user.
--
-- Every state change is one statement that updates the job and bumps its
-- `event_seq` under the row lock; the trigger of 0001.initial.sql appends the
-- matching row to `content_job_events` in the same transaction. So a job's
-- events are numbered without gaps, and a reader that sees seq n has already
-- seen every seq below it.

-- name: insert_job
-- A new queued job and its first event; no row when the idempotency key is taken. What the
-- submitter is answered, not the whole row: its input, sent back and decoded, is the
-- submitter's own (up to the input's size limit, for nothing).
INSERT INTO content_jobs
    (id, company_id, job_type, input, source_task_id, max_attempts,
     idempotency_key, idempotency_hash, priority, run_at, callback_url, trace_context,
     depends_on)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
        COALESCE($10, clock_timestamp() + make_interval(secs => COALESCE($11, 0))), $12, $13,
        $14::uuid[])
ON CONFLICT (company_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, status, created_at;

-- name: insert_jobs
-- New queued jobs without idempotency keys (their first events come from the trigger):
-- submissions that arrive together share one statement, one round trip and one commit. Each
-- is answered as insert_job's is (its id, status and creation time).
-- Dependencies ($12) come as array literals ('{id,...}'; NULL: none): arrays of arrays
-- cannot be ragged. A trigger (0010.pipelines.sql) counts the ones each job waits for.
INSERT INTO content_jobs
    (id, company_id, job_type, input, source_task_id, max_attempts, priority, run_at,
     callback_url, trace_context, depends_on)
SELECT id, company_id, job_type, input, source_task_id, max_attempts, priority,
       COALESCE(run_at, clock_timestamp() + make_interval(secs => COALESCE(delay, 0))),
       callback_url, trace_context, depends_on::uuid[]
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::int[],
            $7::smallint[], $8::timestamptz[], $9::float8[], $10::text[], $11::text[],
            $12::text[])
     AS t(id, company_id, job_type, input, source_task_id, max_attempts, priority, run_at,
          delay, callback_url, trace_context, depends_on)
RETURNING id, status, created_at;

-- name: find_by_idempotency_key
-- The job an idempotency key already names, and whether its 24 hours are over.
SELECT *, created_at < now() - interval '24 hours' AS key_expired
FROM content_jobs
WHERE company_id = $1 AND idempotency_key = $2;

-- name: release_idempotency_key
-- Frees a key whose 24 hours are over, so a new submission may use it.
UPDATE content_jobs SET idempotency_key = NULL, idempotency_hash = NULL
WHERE company_id = $1 AND idempotency_key = $2
  AND created_at < now() - interval '24 hours';

-- name: get_job
-- One job of one company, with the state of its latest completion callback (if any) and the
-- dependencies it still waits for.
SELECT j.*, CASE WHEN c.id IS NOT NULL THEN jsonb_build_object(
           'state', c.state, 'attempts', c.attempts, 'lastStatus', c.last_status) END AS callback,
       CASE WHEN j.waiting > 0 THEN ARRAY(
           SELECT d.id FROM content_jobs d
           WHERE d.id = ANY (j.depends_on) AND d.status <> 'done' ORDER BY d.id) END AS waiting_on
FROM content_jobs j
LEFT JOIN LATERAL (
    SELECT * FROM content_job_callbacks cb WHERE cb.job_id = j.id
    ORDER BY cb.created_at DESC LIMIT 1
) c ON true
WHERE j.id = $1 AND j.company_id = $2;

-- name: get_job_snapshot
-- One job of one company with its current state as an event body (the stream's first event).
SELECT *, content_job_event_data(id, status, progress_percent, progress_message,
                                 result_asset_id, error_message) AS snapshot
FROM content_jobs WHERE id = $1 AND company_id = $2;

-- name: list_jobs
-- A page of a company's jobs, newest first; NULL filters match everything. Items leave out
-- `input` and `result` (up to JOB_INPUT_MAX_BYTES each): a page stays small, GET one for those.
-- A page must not cost more as the company's finished jobs accumulate, so each selective
-- filter has an index that yields its rows directly: the company's jobs in this order
-- (content_jobs_company_created), a task's (content_jobs_company_task, 0016: it walked every
-- job of the company before, ~100 ms per page at 20,000 of them), a parent's children
-- (content_jobs_parent), queued and running jobs (their partial indexes). Each execution is
-- planned with its parameters' values (the generic plan of these ORs costs far more, so
-- Postgres never keeps it). A status or type that few of the company's jobs have is read
-- newest first until a page is found.
SELECT id, company_id, job_type, status, '{}'::jsonb AS input, source_task_id,
       progress_percent, progress_message, NULL::jsonb AS result, result_asset_id,
       error_message, attempts, max_attempts, priority, run_at, callback_url, event_seq,
       created_at, started_at, finished_at, updated_at, output_truncated, depends_on,
       parent_job_id,
       CASE WHEN waiting > 0 THEN ARRAY(
           SELECT d.id FROM content_jobs d
           WHERE d.id = ANY (j.depends_on) AND d.status <> 'done' ORDER BY d.id) END AS waiting_on, schedule_id
FROM content_jobs j
WHERE company_id = $1
  AND ($2::text IS NULL OR status = $2)
  AND ($3::text IS NULL OR job_type = $3)
  AND ($4::text IS NULL OR source_task_id = $4)
  AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6::uuid))
  AND ($8::uuid IS NULL OR parent_job_id = $8)
ORDER BY created_at DESC, id DESC
LIMIT $7;

-- name: cancel_job
-- Cancels a job that is not terminal yet; no row when it is missing or terminal.
UPDATE content_jobs
SET status = 'cancelled', finished_at = now(), updated_at = now(),
    lease_expires_at = NULL, event_seq = event_seq + 1
WHERE id = $1 AND company_id = $2 AND status IN ('queued', 'running')
RETURNING *;

-- name: claim_jobs
-- Up to $3 ready jobs (run_at come), now running under worker $1's lease of $2 seconds, shared
-- fairly between companies: a company's k-th best job (higher priority, then earliest run_at)
-- ranks at (its running jobs + k) / its weight (COMPANY_WEIGHTS: $7 companies, $8 weights;
-- others weigh 1), and jobs are taken in that order, so running jobs split in proportion to
-- the weights: a company with a big backlog delays another's new job by at most one claim.
-- A company with $4 running jobs (COMPANY_MAX_RUNNING; NULL: no cap) gets none. Of the
-- CPU-bound types $5, at most $6 jobs are taken: the worker's free CPU processes (a job it
-- could not start at once would wait holding its lease while another worker could run it).
-- Jobs waiting on dependencies (`waiting` > 0) are no candidates, nor are jobs of a paused
-- type (content_job_type_pauses: a hashed subplan, computed once).
-- Companies are enumerated with a loose index scan over content_jobs_runnable (one index
-- probe per company, not a scan of the backlog; ordered by the index's whole key so that no
-- other index that starts with company_id, and holds every finished job, can serve it), and only the picked rows are locked.
--
-- Workers claiming at the same moment rank the same jobs first. Without a cap, twice $3 are
-- ranked and locking walks them in rank order, skipping rows another claim holds: a worker
-- that lost the race takes the next jobs instead of none (and instead of sleeping until a new
-- job or the poll). With a cap, exactly the jobs the cap allows are ranked: a racing claim
-- skips them and takes nothing of that company, which is what keeps the cap across workers.
-- (Limits stay plain parameters: an expression there left the planner guessing a tenth of
-- the backlog, and the cost it then saw switched JIT on, 20 ms a claim.)
--
-- Rate limits are claim_jobs_limited's business: this statement runs when none is in force,
-- so it pays nothing for them (BENCHMARKS.md: their bookkeeping costs about half a claim).
WITH RECURSIVE companies AS (
    (SELECT company_id FROM content_jobs WHERE status = 'queued' AND waiting = 0
     ORDER BY company_id, priority DESC, run_at, id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.company_id FROM content_jobs j
            WHERE j.status = 'queued' AND j.waiting = 0 AND j.company_id > c.company_id
            ORDER BY j.company_id, j.priority DESC, j.run_at, j.id LIMIT 1)
    FROM companies c WHERE c.company_id IS NOT NULL
), load AS MATERIALIZED (
    SELECT c.company_id,
           (SELECT count(*) FROM content_jobs r
            WHERE r.status = 'running' AND r.company_id = c.company_id) AS running,
           COALESCE(w.weight, 1) AS weight
    FROM companies c
    LEFT JOIN unnest($7::text[], $8::float8[]) AS w(company_id, weight)
        ON w.company_id = c.company_id
    WHERE c.company_id IS NOT NULL
), candidates AS (
    SELECT ready.id, ready.priority, ready.run_at, (l.running + ready.turn) / l.weight AS share,
           ready.job_type = ANY ($5::text[]) AS cpu
    FROM load l
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.job_type,
               row_number() OVER (ORDER BY j.priority DESC, j.run_at, j.id) AS turn
        FROM content_jobs j
        WHERE j.status = 'queued' AND j.waiting = 0 AND j.company_id = l.company_id
          AND j.run_at <= now()
          AND j.job_type NOT IN (SELECT p.job_type FROM content_job_type_pauses p)
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT CASE WHEN $4::int IS NULL
                   THEN 2 * $3
                   ELSE GREATEST(0, LEAST($3, $4 - l.running)) END
    ) ready
), ranked AS MATERIALIZED (
    -- the ranked ids as an array: whatever the table's statistics say, the rows are then
    -- found by primary key (a semi-join here turned into a scan of the whole backlog when
    -- they were taken while the queue was empty); materialized, so it is computed once
    SELECT ARRAY(
        SELECT id FROM (
            SELECT id, share, priority, run_at, cpu,
                   row_number() OVER (
                       PARTITION BY cpu ORDER BY share, priority DESC, run_at, id) AS nth
            FROM candidates) c
        WHERE NOT cpu OR nth <= $6
        ORDER BY share, priority DESC, run_at, id LIMIT 2 * $3) AS ids
), picked AS (
    SELECT j.id FROM content_jobs j, ranked
    WHERE j.id = ANY (ranked.ids) AND j.status = 'queued'
    ORDER BY array_position(ranked.ids, j.id)
    LIMIT $3
    FOR UPDATE OF j SKIP LOCKED
), job AS (
    UPDATE content_jobs j
    SET status = 'running', worker_id = $1, started_at = now(), updated_at = now(),
        run_token = nextval('content_jobs_run_token_seq'),
        lease_expires_at = now() + make_interval(secs => $2), error_message = NULL,
        progress_percent = 0, progress_message = NULL, event_seq = j.event_seq + 1
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
)
SELECT * FROM job ORDER BY priority DESC, run_at, id;

-- name: claim_jobs_limited
-- claim_jobs with rate limits in force ($7 types, $8 starts, $9 seconds, $10 per company;
-- weights move to $11 and $12). A limit's key (its type, and the company for a limit per
-- company) has slots in content_job_rate_slots; the claim takes only slots last used more
-- than the limit's window ago (locked SKIP LOCKED: a racing claim skips them), at most $3 per
-- key, starts at most one job per free slot of its key, and marks the slots used. A type with
-- no free slot is left out before the per-company LIMIT, so it does not hold up the others;
-- with some free, its jobs beyond them are dropped from the ranking (a window numbered by the
-- limit's position in the arrays, not by the type's name: an integer sort, not a collated one).
WITH RECURSIVE companies AS (
    (SELECT company_id FROM content_jobs WHERE status = 'queued' AND waiting = 0
     ORDER BY company_id, priority DESC, run_at, id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.company_id FROM content_jobs j
            WHERE j.status = 'queued' AND j.waiting = 0 AND j.company_id > c.company_id
            ORDER BY j.company_id, j.priority DESC, j.run_at, j.id LIMIT 1)
    FROM companies c WHERE c.company_id IS NOT NULL
), limits AS MATERIALIZED (
    SELECT * FROM unnest($7::text[], $8::int[], $9::float8[], $10::bool[])
        WITH ORDINALITY AS l(job_type, starts, seconds, per_company, idx)
), free_slots AS MATERIALIZED (
    -- per key, at most $3 of its free slots (the oldest used first: an index probe, whatever
    -- N is), for the limit across companies and for each company with queued jobs
    SELECT f.* FROM limits l, LATERAL (
        SELECT s.job_type, s.company_id, s.slot FROM content_job_rate_slots s
        WHERE s.job_type = l.job_type AND s.company_id = '' AND s.slot < l.starts
          AND s.used_at <= now() - make_interval(secs => l.seconds)
        ORDER BY s.used_at LIMIT $3
        FOR UPDATE SKIP LOCKED) f
    WHERE NOT l.per_company
    UNION ALL
    SELECT f.* FROM limits l, companies c, LATERAL (
        SELECT s.job_type, s.company_id, s.slot FROM content_job_rate_slots s
        WHERE s.job_type = l.job_type AND s.company_id = c.company_id AND s.slot < l.starts
          AND s.used_at <= now() - make_interval(secs => l.seconds)
        ORDER BY s.used_at LIMIT $3
        FOR UPDATE SKIP LOCKED) f
    WHERE l.per_company AND c.company_id IS NOT NULL
), slot_counts AS MATERIALIZED (
    SELECT l.idx, l.job_type, l.per_company, k.company_id, count(f.slot) AS free
    FROM limits l
    JOIN (SELECT '' AS company_id UNION ALL
          SELECT company_id FROM companies WHERE company_id IS NOT NULL) k
        ON (k.company_id <> '') = l.per_company
    LEFT JOIN free_slots f ON f.job_type = l.job_type AND f.company_id = k.company_id
    GROUP BY l.idx, l.job_type, l.per_company, k.company_id
), blocked AS MATERIALIZED (
    SELECT p.job_type, '' AS company_id FROM content_job_type_pauses p
    UNION ALL
    SELECT job_type, company_id FROM slot_counts WHERE free = 0
), load AS MATERIALIZED (
    SELECT c.company_id,
           (SELECT count(*) FROM content_jobs r
            WHERE r.status = 'running' AND r.company_id = c.company_id) AS running,
           COALESCE(w.weight, 1) AS weight
    FROM companies c
    LEFT JOIN unnest($11::text[], $12::float8[]) AS w(company_id, weight)
        ON w.company_id = c.company_id
    WHERE c.company_id IS NOT NULL
), candidates AS (
    SELECT ready.id, ready.priority, ready.run_at, (l.running + ready.turn) / l.weight AS share,
           ready.job_type = ANY ($5::text[]) AS cpu, s.idx AS limit_idx, s.company_id AS limit_company,
           s.free
    FROM load l
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at, j.job_type,
               row_number() OVER (ORDER BY j.priority DESC, j.run_at, j.id) AS turn
        FROM content_jobs j
        WHERE j.status = 'queued' AND j.waiting = 0 AND j.company_id = l.company_id
          AND j.run_at <= now()
          AND j.job_type NOT IN (SELECT b.job_type FROM blocked b
                                 WHERE b.company_id = '' OR b.company_id = l.company_id)
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT CASE WHEN $4::int IS NULL
                   THEN 2 * $3
                   ELSE GREATEST(0, LEAST($3, $4 - l.running)) END
    ) ready
    LEFT JOIN slot_counts s ON s.job_type = ready.job_type
        AND s.company_id = CASE WHEN s.per_company THEN l.company_id ELSE '' END
), ranked AS MATERIALIZED (
    SELECT ARRAY(
        SELECT id FROM (
            SELECT id, share, priority, run_at, cpu, free,
                   row_number() OVER (
                       PARTITION BY cpu ORDER BY share, priority DESC, run_at, id) AS nth,
                   row_number() OVER (
                       PARTITION BY limit_idx, limit_company COLLATE "C"
                       ORDER BY share, priority DESC, run_at, id) AS nth_of_type
            FROM candidates) c
        WHERE (NOT cpu OR nth <= $6) AND (free IS NULL OR nth_of_type <= free)
        ORDER BY share, priority DESC, run_at, id LIMIT 2 * $3) AS ids
), picked AS (
    SELECT j.id FROM content_jobs j, ranked
    WHERE j.id = ANY (ranked.ids) AND j.status = 'queued'
    ORDER BY array_position(ranked.ids, j.id)
    LIMIT $3
    FOR UPDATE OF j SKIP LOCKED
), job AS (
    UPDATE content_jobs j
    SET status = 'running', worker_id = $1, started_at = now(), updated_at = now(),
        run_token = nextval('content_jobs_run_token_seq'),
        lease_expires_at = now() + make_interval(secs => $2), error_message = NULL,
        progress_percent = 0, progress_message = NULL, event_seq = j.event_seq + 1
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
), taken AS (
    -- each limited job started takes one of its key's free slots
    SELECT job.job_type, CASE WHEN l.per_company THEN job.company_id ELSE '' END AS company_id,
           count(*) AS n
    FROM job JOIN limits l ON l.job_type = job.job_type
    GROUP BY 1, 2
), used AS (
    UPDATE content_job_rate_slots s SET used_at = now()
    FROM (SELECT f.job_type, f.company_id, f.slot, row_number() OVER (
              PARTITION BY f.job_type, f.company_id ORDER BY f.slot) AS n
          FROM free_slots f) f, taken t
    WHERE t.job_type = f.job_type AND t.company_id = f.company_id AND f.n <= t.n
      AND s.job_type = f.job_type AND s.company_id = f.company_id AND s.slot = f.slot
)
SELECT * FROM job ORDER BY priority DESC, run_at, id;

-- name: next_run_at
-- Seconds until the earliest queued job that is not ready yet may start (the workers' timer;
-- in the database's clock, so the replica's clock does not matter); NULL when none waits.
SELECT EXTRACT(EPOCH FROM min(run_at) - now())::float8
FROM content_jobs WHERE status = 'queued' AND run_at > now();

-- name: rate_limit_wait
-- For the rate limits ($1 types, $2 starts, $3 seconds, $4 per company), as the claim takes
-- them: creates the slots of a limit that has none yet (across companies: at once; per
-- company: for each company with a ready job of the type), then returns 0 (claim again now);
-- else the seconds until the first slot frees of a limit that has none free (a worker's timer:
-- it sleeps until then instead of claiming in a loop); NULL when every limit has a free slot.
-- The claim never creates slots: two claims could then both count on the same new ones.
WITH RECURSIVE limits AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::float8[], $4::bool[])
        AS l(job_type, starts, seconds, per_company)
), companies AS (
    (SELECT company_id FROM content_jobs WHERE status = 'queued'
     ORDER BY company_id, priority DESC, run_at, id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.company_id FROM content_jobs j
            WHERE j.status = 'queued' AND j.company_id > c.company_id
            ORDER BY j.company_id, j.priority DESC, j.run_at, j.id LIMIT 1)
    FROM companies c WHERE c.company_id IS NOT NULL AND EXISTS (SELECT 1 FROM limits WHERE per_company)
), keys AS (
    SELECT l.job_type, '' AS company_id, l.starts FROM limits l WHERE NOT l.per_company
    UNION ALL
    SELECT l.job_type, c.company_id, l.starts FROM limits l, companies c
    WHERE l.per_company AND c.company_id IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM content_job_rate_slots s WHERE s.job_type = l.job_type
                      AND s.company_id = c.company_id AND s.slot = l.starts - 1)
      AND EXISTS (SELECT 1 FROM content_jobs j WHERE j.status = 'queued'
                  AND j.company_id = c.company_id AND j.job_type = l.job_type
                  AND j.run_at <= now())
), created AS (
    INSERT INTO content_job_rate_slots (job_type, company_id, slot)
    SELECT k.job_type, k.company_id, g.slot
    FROM keys k CROSS JOIN LATERAL generate_series(0, k.starts - 1) AS g(slot)
    WHERE NOT EXISTS (SELECT 1 FROM content_job_rate_slots s WHERE s.job_type = k.job_type
                      AND s.company_id = k.company_id AND s.slot = k.starts - 1)
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT CASE WHEN EXISTS (SELECT 1 FROM created) THEN 0.0::float8 ELSE (
    SELECT min(wait) FROM (
        -- a key's oldest start leaves the window then (never-used slots are -infinity: free)
        SELECT CASE WHEN min(s.used_at) > now() - make_interval(secs => l.seconds)
                    THEN EXTRACT(EPOCH FROM
                             min(s.used_at) + make_interval(secs => l.seconds) - now())::float8
               END AS wait
        FROM limits l JOIN content_job_rate_slots s ON s.job_type = l.job_type
        WHERE (s.company_id <> '') = l.per_company AND s.slot < l.starts
        GROUP BY l.job_type, s.company_id, l.seconds) k
    WHERE wait > 0) END;

-- name: paused_job_types
-- The paused job types (GET /api/job-types, metrics).
SELECT job_type FROM content_job_type_pauses ORDER BY job_type;

-- name: pause_job_type
-- Pauses type $1: the claims leave its jobs queued from their next run on.
INSERT INTO content_job_type_pauses (job_type) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: resume_job_type
-- Resumes type $1 (its queued jobs start at the workers' next claim).
DELETE FROM content_job_type_pauses WHERE job_type = $1;

-- name: redrive_jobs
-- Queues again, as a retry does, company $1's jobs with status $2 (failed or cancelled), of
-- type $3 (NULL: any) finished after $4 (NULL: ever), at most $5 of them, oldest finished
-- first, in one statement; returns each job's id and new event seq (the NOTIFY hint). Each
-- waits again for its dependencies not done, as retry_job says.
WITH matched AS (
    SELECT id FROM content_jobs
    WHERE company_id = $1 AND status = $2 AND ($3::text IS NULL OR job_type = $3)
      AND ($4::timestamptz IS NULL OR finished_at > $4)
    ORDER BY finished_at, id
    LIMIT $5
    FOR UPDATE
)
UPDATE content_jobs j
SET status = 'queued', attempts = 1, run_at = now(), result = NULL, result_asset_id = NULL,
    waiting = CASE WHEN j.depends_on IS NULL THEN 0
                   ELSE (content_jobs_dependency_state(j.depends_on, j.company_id)).pending END,
    error_message = NULL, progress_percent = 0, progress_message = NULL,
    started_at = NULL, finished_at = NULL, worker_id = NULL, lease_expires_at = NULL,
    updated_at = now(), event_seq = j.event_seq + 1
FROM matched WHERE j.id = matched.id AND j.status = $2
RETURNING j.id, j.event_seq;

-- name: queued_count
-- Company $1's waiting jobs, counted up to $2 (COMPANY_MAX_QUEUED: past it the exact figure
-- does not matter, and counting stops).
SELECT count(*) FROM (
    SELECT 1 FROM content_jobs WHERE company_id = $1 AND status = 'queued' LIMIT $2
) AS waiting;

-- name: set_progress
-- Records runs' progress, many in one statement (the store's group commit): each row of the
-- arrays is (job, run token, percent, message), at most one per run; each job whose progress
-- changed gets its `progress` event (the trigger) and returns its new event seq. No row for a
-- job whose progress is unchanged or that is no longer the run's with that token.
UPDATE content_jobs j
SET progress_percent = t.percent, progress_message = t.message, updated_at = now(),
    event_seq = j.event_seq + 1
FROM unnest($1::uuid[], $2::bigint[], $3::smallint[], $4::text[])
     AS t(id, token, percent, message)
WHERE j.id = t.id AND j.status = 'running' AND j.run_token = t.token
  AND (j.progress_percent, j.progress_message) IS DISTINCT FROM (t.percent, t.message)
RETURNING j.id, j.run_token, j.event_seq;

-- name: append_outputs
-- Appends chunks to the outputs of runs' jobs, many in one statement (the store's group
-- commit): each row of the arrays is (job, run token, chunk, truncated), one per job, and
-- each chunk gets its `output` event (the trigger). The run cut its chunk to fit
-- JOB_OUTPUT_MAX_BYTES ('' when nothing fits: no event); `truncated` says it did
-- (`outputTruncated`). Returns each run's job, token, new event seq and output bytes; no row
-- for a run that no longer holds its job.
WITH job AS (
    UPDATE content_jobs j
    SET output_chunk = CASE WHEN t.chunk = '' THEN j.output_chunk ELSE t.chunk END,
        output_chars = j.output_chars + char_length(t.chunk),
        output_bytes = j.output_bytes + octet_length(t.chunk),
        output_truncated = j.output_truncated OR t.truncated,
        event_seq = j.event_seq + CASE WHEN t.chunk = '' THEN 0 ELSE 1 END,
        updated_at = now()
    FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::bool[]) AS t(id, token, chunk, truncated)
    WHERE j.id = t.id AND j.status = 'running' AND j.run_token = t.token
    RETURNING j.id, j.run_token, j.event_seq, j.output_bytes, t.chunk
), saved AS (
    INSERT INTO content_job_outputs AS o (job_id, text)
    SELECT id, chunk FROM job WHERE chunk <> ''
    ON CONFLICT (job_id) DO UPDATE SET text = o.text || EXCLUDED.text
)
SELECT id, run_token, event_seq, output_bytes FROM job;

-- name: get_output
-- The whole output so far of one job of one company ('' before any); no row for no such job.
SELECT COALESCE(o.text, '') AS text, j.output_truncated
FROM content_jobs j LEFT JOIN content_job_outputs o ON o.job_id = j.id
WHERE j.id = $1 AND j.company_id = $2;

-- name: finish_jobs
-- Ends runs as done or failed, many in one statement (the runner's group commit): each row of
-- the arrays is (job, run token, status, result, asset, error); a run that is no longer its
-- job's (cancelled, reaped, retried) changes nothing and returns no row. Only the id and the new
-- event seq come back (for the NOTIFY hint): the worker already holds the rest of the row.
UPDATE content_jobs j
SET status = t.status, result = t.result, result_asset_id = t.asset, error_message = t.error,
    progress_percent = CASE WHEN t.status = 'done' THEN 100 ELSE j.progress_percent END,
    finished_at = now(), updated_at = now(), lease_expires_at = NULL,
    event_seq = j.event_seq + 1
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[], $5::uuid[], $6::text[])
     AS t(id, token, status, result, asset, error)
WHERE j.id = t.id AND j.status = 'running' AND j.run_token = t.token
RETURNING j.id, j.run_token, j.event_seq;

-- name: fail_attempt
-- Ends the attempt of run $2 with a transient error $3: queued again $4 seconds from now with
-- attempts + 1 (its `status` event carries the error), or failed if it was the last attempt.
UPDATE content_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
    attempts = LEAST(attempts + 1, max_attempts),
    run_at = CASE WHEN attempts >= max_attempts THEN run_at
                  ELSE now() + make_interval(secs => $4) END,
    error_message = $3,
    finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
    progress_percent = CASE WHEN attempts >= max_attempts THEN progress_percent ELSE 0 END,
    progress_message = CASE WHEN attempts >= max_attempts THEN progress_message END,
    worker_id = NULL, lease_expires_at = NULL, updated_at = now(),
    event_seq = event_seq + 1
WHERE id = $1 AND status = 'running' AND run_token = $2
RETURNING *;

-- name: retry_job
-- Starts a failed or cancelled job afresh (attempts from 1, ready now); its events go on. It
-- waits again for its dependencies not done (a failed one until that one is retried and done;
-- counted with the dependencies locked, see 0010.pipelines.sql).
UPDATE content_jobs
SET status = 'queued', attempts = 1, run_at = now(), result = NULL, result_asset_id = NULL,
    waiting = CASE WHEN depends_on IS NULL THEN 0
                   ELSE (content_jobs_dependency_state(depends_on, company_id)).pending END,
    error_message = NULL, progress_percent = 0, progress_message = NULL,
    started_at = NULL, finished_at = NULL, worker_id = NULL, lease_expires_at = NULL,
    updated_at = now(), event_seq = event_seq + 1
WHERE id = $1 AND company_id = $2 AND status IN ('failed', 'cancelled')
RETURNING *;

-- name: requeue_job
-- Hands run $2, which shutdown interrupted, back to the queue, attempts unchanged.
UPDATE content_jobs
SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,
    progress_percent = 0, progress_message = NULL, updated_at = now(),
    event_seq = event_seq + 1
WHERE id = $1 AND status = 'running' AND run_token = $2
RETURNING *;

-- name: renew_leases
-- Extends the leases of runs (job $1[i], token $2[i]) by $3 seconds; returns the tokens of the
-- runs that still hold their job.
UPDATE content_jobs j
SET lease_expires_at = now() + make_interval(secs => $3)
FROM unnest($1::uuid[], $2::bigint[]) AS t(id, token)
WHERE j.id = t.id AND j.status = 'running' AND j.run_token = t.token
RETURNING j.run_token;

-- name: still_running
-- Which of the runs (job $1[i], token $2[i]) still hold their job (the others' jobs were
-- cancelled, reaped, or retried and claimed again): their tokens.
SELECT j.run_token FROM content_jobs j
JOIN unnest($1::uuid[], $2::bigint[]) AS t(id, token) ON j.id = t.id
WHERE j.status = 'running' AND j.run_token = t.token;

-- name: reap_expired_leases
-- Running jobs whose worker stopped renewing: requeued with attempts + 1, or failed at the limit.
WITH expired AS (
    SELECT id FROM content_jobs
    WHERE status = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), job AS (
    UPDATE content_jobs j
    SET status = CASE WHEN j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
        attempts = LEAST(j.attempts + 1, j.max_attempts),
        error_message = CASE WHEN j.attempts >= j.max_attempts
            THEN format('worker lost during attempt %s of %s: giving up', j.attempts, j.max_attempts)
        END,
        finished_at = CASE WHEN j.attempts >= j.max_attempts THEN now() END,
        progress_percent = CASE WHEN j.attempts >= j.max_attempts THEN j.progress_percent ELSE 0 END,
        progress_message = CASE WHEN j.attempts >= j.max_attempts THEN j.progress_message END,
        worker_id = NULL, lease_expires_at = NULL, updated_at = now(), run_at = now(),
        event_seq = j.event_seq + 1
    FROM expired WHERE j.id = expired.id
    RETURNING j.*
)
SELECT * FROM job;

-- name: event_seqs
-- The newest event number of each of jobs $1 (the safety sweep's check for missed NOTIFYs).
SELECT id, event_seq FROM content_jobs WHERE id = ANY($1::uuid[]);

-- name: events_after
-- A job's events after sequence $2, in order (replay and catch-up).
SELECT * FROM content_job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq;

-- name: queue_stats
-- Per company: jobs ready to run (not waiting on dependencies either), jobs waiting for their
-- run_at, and how long the oldest ready job has waited in seconds (metrics).
SELECT company_id,
       count(*) FILTER (WHERE run_at <= now() AND waiting = 0) AS ready,
       count(*) FILTER (WHERE run_at > now()) AS delayed,
       COALESCE(EXTRACT(EPOCH FROM now() - min(run_at)
                FILTER (WHERE run_at <= now() AND waiting = 0)), 0)::float8 AS oldest_ready
FROM content_jobs WHERE status = 'queued'
GROUP BY company_id;

-- name: events_after_many
-- The events of jobs $1 after seqs $2 (one each), in order per job: a replica's fan-out reads
-- every hinted job's new rows in one statement rather than one per job.
SELECT e.* FROM unnest($1::uuid[], $2::int[]) AS t(job_id, after)
JOIN content_job_events e ON e.job_id = t.job_id AND e.seq > t.after
ORDER BY e.job_id, e.seq;

-- name: notify_many
-- Sends many NOTIFYs in one transaction: Postgres serialises notifying commits, so batch them.
SELECT pg_notify(channel, payload) FROM unnest($1::text[], $2::text[]) AS t(channel, payload);

-- Pipelines
--
-- Dependencies and children (sql/0010.pipelines.sql keeps the `waiting` counters and the
-- cancellations down a chain).

-- name: existing_jobs
-- Which of the ids $2 are jobs of company $1 (a submit's `dependsOn` must name only those).
SELECT id FROM content_jobs WHERE company_id = $1 AND id = ANY ($2::uuid[]);

-- name: insert_child
-- A child job $1 of the job $6 whose run holds token $8, under the parent's key $7: no row
-- when the parent already has a child of that key (a rerun of the parent), or when the run no
-- longer holds its job. The parent is locked FOR SHARE, so a cancel of it in flight is
-- waited for (and refuses the child) or waits for this insert (and cancels the child too).
WITH parent AS (
    SELECT id, company_id FROM content_jobs
    WHERE id = $6 AND status = 'running' AND run_token = $8
    FOR SHARE
)
INSERT INTO content_jobs
    (id, company_id, job_type, input, max_attempts, priority, parent_job_id, child_key,
     depends_on)
SELECT $1, parent.company_id, $2, $3, $4, $5, parent.id, $7, $9::uuid[] FROM parent
ON CONFLICT (parent_job_id, child_key) WHERE child_key IS NOT NULL DO NOTHING
RETURNING id, event_seq;

-- name: find_child
-- The child of job $1 under key $2.
SELECT id FROM content_jobs WHERE parent_job_id = $1 AND child_key = $2;

-- name: dependency_results
-- The results of jobs $1 of company $2 (a handler's `ctx.dependencies`).
SELECT id, result FROM content_jobs WHERE id = ANY ($1::uuid[]) AND company_id = $2;

-- Assets
--
-- `service/assets/store.py` owns `content_assets`; `service/assets/storage/postgres.py` owns
-- `content_asset_objects` and `content_asset_chunks`; `service/db/prune.py` owns
-- the deletion of expired jobs.

-- name: insert_object_chunk
-- One chunk of an object being written (its object row follows in the same transaction).
INSERT INTO content_asset_chunks (object_key, chunk_no, data) VALUES ($1, $2, $3);

-- name: insert_object
-- The object row, written last: an object is visible only once all its chunks are.
INSERT INTO content_asset_objects (object_key, content_type, byte_size, sha256, chunk_size)
VALUES ($1, $2, $3, $4, $5);

-- name: head_object
-- An object's metadata, without its bytes.
SELECT * FROM content_asset_objects WHERE object_key = $1;

-- name: object_chunks
-- Chunks $2 to $3 (inclusive) of an object, in order: a byte range reads only its chunks.
SELECT chunk_no, data FROM content_asset_chunks
WHERE object_key = $1 AND chunk_no BETWEEN $2 AND $3
ORDER BY chunk_no;

-- name: delete_objects
-- Deletes objects $1 and, by cascade, their chunks.
DELETE FROM content_asset_objects WHERE object_key = ANY($1::text[]);

-- name: insert_asset
-- Records a stored object as an asset of company $2 (and of job $3, if any).
INSERT INTO content_assets
    (id, company_id, job_id, object_key, filename, content_type, byte_size, sha256)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING *;

-- name: get_asset
-- One asset of one company: another company's asset is simply not found.
SELECT * FROM content_assets WHERE id = $1 AND company_id = $2;

-- name: job_asset_keys
-- The object keys of the assets of jobs $1 (deleted from storage before their rows).
SELECT object_key FROM content_assets WHERE job_id = ANY($1::uuid[]);

-- name: delete_job_assets
-- Deletes the asset rows of jobs $1 (their objects were deleted from storage just before).
DELETE FROM content_assets WHERE job_id = ANY($1::uuid[]);

-- name: lock_expired_jobs
-- Up to $2 terminal jobs finished before $1, locked so that concurrent prunes share the work.
SELECT id FROM content_jobs
WHERE finished_at < $1 AND status IN ('done', 'failed', 'cancelled')
ORDER BY finished_at
LIMIT $2
FOR UPDATE SKIP LOCKED;

-- name: delete_jobs
-- Deletes jobs $1 and, by cascade, any asset and callback rows left (their events go with
-- their day's partition, or by delete_default_events).
DELETE FROM content_jobs WHERE id = ANY($1::uuid[]);

-- name: prune_cutoff
-- The database's now minus $1: every replica and the prune agree on one clock.
SELECT now() - $1::interval;

-- Completion callbacks
--
-- `service/worker/callbacks.py` owns `content_job_callbacks` and `content_job_callback_attempts`
-- (the delivery rows themselves are written by the trigger of 0004.callbacks.sql).

-- name: lock_callback_claims
-- Claims of deliveries take turns (for the rest of the transaction), so two workers claiming
-- at once cannot both fill a company's or a host's share.
SELECT pg_advisory_xact_lock(hashtext('content_job_callbacks.claim'));

-- name: claim_callbacks
-- Up to $1 due deliveries, held by this worker for $2 seconds (a killed worker's hold runs
-- out and another worker sends it), with the job they announce. A company has at most $3
-- and a host at most $4 deliveries held at once (counting those other workers hold), and a
-- host whose circuit breaker is open is skipped: a receiver that never answers ties up a
-- few senders, not all of them. Deliveries past their 24 hours ($5 seconds) come back
-- whatever the shares, to be given up.
WITH held AS (
    SELECT company_id, host FROM content_job_callbacks
    WHERE state = 'pending' AND locked_until > now()
), held_companies AS (
    SELECT company_id, count(*) AS n FROM held GROUP BY company_id
), held_hosts AS (
    SELECT host, count(*) AS n FROM held GROUP BY host
), candidates AS (
    SELECT c.id, c.next_attempt_at, c.created_at < now() - make_interval(secs => $5) AS expired,
           COALESCE(hc.n, 0) + row_number() OVER (
               PARTITION BY c.company_id ORDER BY c.next_attempt_at, c.id) AS company_load,
           COALESCE(hh.n, 0) + row_number() OVER (
               PARTITION BY c.host ORDER BY c.next_attempt_at, c.id) AS host_load
    FROM content_job_callbacks c
    LEFT JOIN held_companies hc ON hc.company_id = c.company_id
    LEFT JOIN held_hosts hh ON hh.host = c.host
    LEFT JOIN content_job_callback_hosts b ON b.host = c.host
    WHERE c.state = 'pending' AND c.next_attempt_at <= now()
      AND (c.locked_until IS NULL OR c.locked_until < now())
      AND ((COALESCE(hc.n, 0) < $3 AND COALESCE(hh.n, 0) < $4
            AND (b.open_until IS NULL OR b.open_until <= now()))
           OR c.created_at < now() - make_interval(secs => $5))
), due AS (
    SELECT c.id FROM content_job_callbacks c JOIN candidates USING (id)
    WHERE candidates.expired OR (company_load <= $3 AND host_load <= $4)
    ORDER BY candidates.next_attempt_at
    LIMIT $1
    FOR UPDATE OF c SKIP LOCKED
), claimed AS (
    UPDATE content_job_callbacks c SET locked_until = now() + make_interval(secs => $2)
    FROM due WHERE c.id = due.id
    RETURNING c.id AS delivery_id, c.job_id, c.url, c.host, c.attempts AS delivery_attempts,
              EXTRACT(EPOCH FROM now() - c.created_at)::float8 AS age_seconds
)
SELECT claimed.*, j.* FROM claimed JOIN content_jobs j ON j.id = claimed.job_id;

-- name: record_callback_attempt
-- One attempt's outcome: delivered ($5), or pending again in $6 seconds, or failed for good
-- when $6 is NULL (past its 24 hours). An attempt with no attempt number ($2 NULL) was not
-- made (the delivery was given up unsent) and leaves no attempt row.
WITH attempt AS (
    INSERT INTO content_job_callback_attempts (delivery_id, attempt, status, error)
    SELECT $1, $2::int, $3::int, $4::text WHERE $2::int IS NOT NULL
)
UPDATE content_job_callbacks
SET attempts = COALESCE($2::int, attempts), last_status = $3, last_error = $4, locked_until = NULL,
    updated_at = now(),
    state = CASE WHEN $5 THEN 'delivered' WHEN $6::float8 IS NULL THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now() + make_interval(secs => COALESCE($6::float8, 0))
WHERE id = $1;

-- name: record_callback_host
-- Host $1 answered ($2 true: its run of failures ends) or did not (one more; at $3 in a row
-- its deliveries are left alone for $4 seconds, and each further failure renews that).
INSERT INTO content_job_callback_hosts AS h (host, failures, open_until)
VALUES ($1, CASE WHEN $2 THEN 0 ELSE 1 END,
        CASE WHEN NOT $2 AND $3 <= 1 THEN now() + make_interval(secs => $4) END)
ON CONFLICT (host) DO UPDATE
SET failures = CASE WHEN $2 THEN 0 ELSE h.failures + 1 END,
    open_until = CASE WHEN $2 THEN NULL
                      WHEN h.failures + 1 >= $3 THEN now() + make_interval(secs => $4)
                      ELSE h.open_until END;

-- name: webhook_secret
-- Company $1's signing secret (encrypted) and when it was made, and the one it replaced while
-- that still signs too (NULL otherwise).
SELECT secret, created_at,
       CASE WHEN previous_until > now() THEN previous_secret END AS previous_secret
FROM content_job_webhook_secrets WHERE company_id = $1;

-- name: create_webhook_secret
-- Company $1's first signing secret $2 (encrypted), unless another replica made one first.
INSERT INTO content_job_webhook_secrets (company_id, secret) VALUES ($1, $2)
ON CONFLICT (company_id) DO NOTHING;

-- name: rotate_webhook_secret
-- Company $1's new signing secret $2 (encrypted); the one it replaces signs beside it for $3
-- seconds more. A rotation within that time drops the older one.
INSERT INTO content_job_webhook_secrets AS s (company_id, secret) VALUES ($1, $2)
ON CONFLICT (company_id) DO UPDATE
SET previous_secret = s.secret, previous_until = now() + make_interval(secs => $3),
    secret = EXCLUDED.secret, created_at = now()
RETURNING created_at;

-- name: next_callback_in
-- Seconds until the next pending delivery is due (NULL when none is pending).
SELECT GREATEST(EXTRACT(EPOCH FROM min(next_attempt_at) - now()), 0)::float8
FROM content_job_callbacks WHERE state = 'pending';

-- Schedules
--
-- `service/db/schedules.py` owns `content_job_schedules` (sql/0011.schedules.sql) and the
-- jobs its ticks insert.

-- name: insert_schedule
-- A new schedule of company $2; no row when the company already has one named $3.
INSERT INTO content_job_schedules
    (id, company_id, name, cron, every_seconds, timezone, job, paused, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (company_id, name) DO NOTHING
RETURNING *;

-- name: list_schedules
-- A company's schedules, by name.
SELECT * FROM content_job_schedules WHERE company_id = $1 ORDER BY name;

-- name: get_schedule
-- One schedule of one company.
SELECT * FROM content_job_schedules WHERE id = $1 AND company_id = $2;

-- name: update_schedule
-- A schedule's timing, job and pause changed (a PATCH), with its next tick ($8: NULL paused).
UPDATE content_job_schedules
SET cron = $3, every_seconds = $4, timezone = $5, job = $6, paused = $7, next_run_at = $8,
    updated_at = now()
WHERE id = $1 AND company_id = $2
RETURNING *;

-- name: delete_schedule
-- A schedule removed; the jobs it submitted stay.
DELETE FROM content_job_schedules WHERE id = $1 AND company_id = $2 RETURNING id;

-- name: claim_due_schedules
-- Up to $1 schedules whose tick has come, locked until the transaction that submits their
-- jobs and moves their next tick commits; other replicas skip them. With the database's
-- clock, so every replica agrees on what is due.
SELECT s.*, now() AS db_now
FROM content_job_schedules s
WHERE NOT paused AND next_run_at <= now()
ORDER BY next_run_at
LIMIT $1
FOR UPDATE SKIP LOCKED;

-- name: insert_scheduled_jobs
-- The jobs of due ticks (their first events come from the trigger). A tick that already has
-- its job (the unique index on schedule and tick) gets no second one.
INSERT INTO content_jobs
    (id, company_id, job_type, input, source_task_id, max_attempts, priority, run_at,
     callback_url, schedule_id, schedule_tick)
SELECT id, company_id, job_type, input, source_task_id, max_attempts, priority,
       clock_timestamp() + make_interval(secs => COALESCE(delay, 0)), callback_url,
       schedule_id, schedule_tick
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::int[],
            $7::smallint[], $8::float8[], $9::text[], $10::uuid[], $11::timestamptz[])
     AS t(id, company_id, job_type, input, source_task_id, max_attempts, priority, delay,
          callback_url, schedule_id, schedule_tick)
ON CONFLICT (schedule_id, schedule_tick) WHERE schedule_id IS NOT NULL DO NOTHING
RETURNING id, schedule_id, event_seq;

-- name: advance_schedules
-- Claimed schedules moved to their next ticks; `last_run_at` set where a job was submitted.
UPDATE content_job_schedules s
SET next_run_at = t.next_run_at, last_run_at = CASE WHEN t.fired THEN now() ELSE last_run_at END
FROM unnest($1::uuid[], $2::timestamptz[], $3::bool[]) AS t(id, next_run_at, fired)
WHERE s.id = t.id;

-- name: next_schedule_in
-- Seconds until the earliest tick of any schedule (the scheduler's sleep; NULL when none).
SELECT EXTRACT(EPOCH FROM min(next_run_at) - now())::float8
FROM content_job_schedules WHERE NOT paused;

-- Event partitions
--
-- `service/db/partitions.py` keeps a partition ready for each coming day; prune drops old ones
-- (the functions are in 0005.event-partitions.sql and 0008.partition-locks.sql). Each waits at
-- most 200 ms for its locks, then fails with lock_not_available; partitions.py retries it.

-- name: add_event_partitions
-- The partitions of yesterday to $1 days from now (UTC) that are missing; how many were added.
SELECT content_job_events_add_partitions(
    (now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + $1::int);

-- name: detach_event_partitions
-- The partitions of days that ended before $1 with no job left, detached; their names.
SELECT content_job_events_detach_partitions($1) AS name;

-- name: drop_detached_event_partitions
-- The detached day tables of days that ended before $1, dropped; their names.
SELECT content_job_events_drop_detached($1) AS name;

-- name: delete_default_events
-- The events of jobs $1 that live in the default partition (jobs older than partitioning, or
-- of a day that had no partition); day partitions go whole.
DELETE FROM content_job_events_default WHERE job_id = ANY($1::uuid[]);

-- Overview

-- name: job_overview
-- A company's jobs counted by type and status: the page's overview (GET
-- .../content-jobs:overview). One pass over the company's rows; each replica reads it at most
-- about once a second per company (service/db/overview.py), however many pages poll. The pass
-- is an index-only scan of content_jobs_company_created, which carries the type and status
-- (0016): ~200 index pages for 20,000 jobs, where reading the rows took a heap page per job.
SELECT job_type, status, count(*) AS jobs
FROM content_jobs
WHERE company_id = $1
GROUP BY job_type, status;
