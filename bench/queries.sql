-- SQL of the benchmarks, parsed like sql/queries.sql (see service/db/queries.py).
-- The service's own runtime SQL stays in sql/queries.sql; these only set up
-- workloads and read their outcome back from the tables.

-- name: reset
-- An empty job table between runs, so every run starts from the same state.
TRUNCATE content_jobs, content_job_events CASCADE;

-- name: insert_jobs
-- $1 queued jobs of type $2 with inputs $3 (jsonb[], cycled), in one statement (the schema's
-- trigger appends each one's first event). Ids are time-ordered like the service's UUIDv7
-- (48 bits of milliseconds, then random bits), so events land in today's partition.
INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)
SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || substr(md5(random()::text), 1, 20))::uuid, 'bench', $2, ($3::jsonb[])[1 + (i - 1) % cardinality($3::jsonb[])], 3
FROM generate_series(1, $1) AS i
RETURNING id;

-- name: wake_workers
-- What the service's notifier sends after a submit: idle workers look for jobs.
SELECT pg_notify('content_jobs_queued', '');

-- name: job_times
-- Creation and start of jobs $1, as epoch seconds (the database's clock, the machine's).
SELECT id, extract(epoch FROM created_at)::float8 AS created,
       extract(epoch FROM started_at)::float8 AS started
FROM content_jobs WHERE id = ANY($1::uuid[]);

-- name: unfinished
-- Whether any job is queued or running (what the runs poll until their jobs are done): each
-- status through its own partial index, stopping at the first. (`status IN ('queued', 'running')` was planned as a parallel scan of the whole
-- table: 0.8 s of three processes per poll beside a million finished jobs, stolen from the
-- worker being measured; a count of the unfinished jobs took ~12 ms a poll at 40,000 jobs,
-- ~10 % of a throughput run's Postgres time.)
SELECT EXISTS (SELECT FROM content_jobs WHERE status = 'queued')
    OR EXISTS (SELECT FROM content_jobs WHERE status = 'running');

-- name: throughput_window
-- Jobs done, and the window from the first claim to the last finish, in seconds.
SELECT count(*) AS done,
       extract(epoch FROM max(finished_at) - min(started_at))::float8 AS seconds
FROM content_jobs WHERE status = 'done';

-- name: event_times
-- When each event of jobs $1 was written (epoch seconds, clock_timestamp at insert).
SELECT job_id, seq, extract(epoch FROM created_at)::float8 AS created
FROM content_job_events WHERE job_id = ANY($1::uuid[]);

-- name: connections
-- The database connections of the api replica (role $1), by application name.
SELECT application_name, count(*)::int AS n FROM pg_stat_activity
WHERE usename = $1 AND application_name LIKE 'content-jobs%'
GROUP BY application_name;

-- name: create_role
-- A login role for worker replicas, so pg_stat_activity tells their connections apart.
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'bench_worker') THEN
        CREATE ROLE bench_worker LOGIN SUPERUSER;
    END IF;
END $$;

-- name: settings
-- The Postgres settings that matter for these numbers.
SELECT name, setting, unit FROM pg_settings
WHERE name IN ('server_version', 'max_connections', 'shared_buffers', 'fsync',
               'synchronous_commit', 'full_page_writes', 'wal_level', 'work_mem',
               'wal_buffers', 'commit_delay', 'max_wal_size', 'checkpoint_timeout')
ORDER BY name;

-- name: peer_window
-- procrastinate's jobs done, and the window from the first start to the last success.
SELECT count(*) FILTER (WHERE type = 'succeeded') AS done,
       extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')
                        - min(at) FILTER (WHERE type = 'started'))::float8 AS seconds
FROM procrastinate_events;

-- name: peer_unfinished
-- Whether any of procrastinate's jobs is not yet finished.
SELECT EXISTS (SELECT FROM procrastinate_jobs WHERE status IN ('todo', 'doing'));

-- name: peer_reset
-- An empty procrastinate queue between runs.
TRUNCATE procrastinate_jobs, procrastinate_events CASCADE;

-- name: database_exists
-- Whether database $1 is there already.
SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1);

-- name: claim_jobs_fifo
-- The claim before fair share (for bench/claim.py's comparison only): the oldest queued jobs
-- first, whatever their company. $4 to $8 are ignored (the fair claim's COMPANY_MAX_RUNNING,
-- CPU slots and weights).
WITH picked AS (
    SELECT id FROM content_jobs
    WHERE status = 'queued' AND run_at <= now()
      AND ($4::int IS NULL OR $5::text[] IS NULL OR $6::int IS NULL
           OR $7::text[] IS NULL OR $8::float8[] IS NULL OR true)
    ORDER BY run_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), job AS (
    UPDATE content_jobs j
    SET status = 'running', worker_id = $1, started_at = now(), updated_at = now(),
        run_token = nextval('content_jobs_run_token_seq'),
        lease_expires_at = now() + make_interval(secs => $2),
        progress_percent = 0, progress_message = NULL, event_seq = j.event_seq + 1
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
)
SELECT * FROM job;

-- name: insert_spread
-- $1 queued echo jobs spread round-robin over $2 companies, in one statement.
INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)
SELECT gen_random_uuid(), 'company-' || (i % $2), 'echo', '{}', 3
FROM generate_series(1, $1) AS i;

-- name: finish_claimed
-- Marks claimed jobs done at once (the claim benchmark runs no handler).
UPDATE content_jobs
SET status = 'done', finished_at = now(), lease_expires_at = NULL, event_seq = event_seq + 1
WHERE id = ANY($1::uuid[]);

-- name: prune_fill_jobs
-- $1 jobs created on day $2 (time-ordered ids of that UTC day, one per millisecond from its
-- midnight), done 35 days ago; the trigger writes each one's first event.
INSERT INTO content_jobs (id, company_id, job_type, status, max_attempts, created_at, finished_at)
SELECT (lpad(to_hex(floor(extract(epoch FROM content_job_day_start($2::date)) * 1000)::bigint + i),
             12, '0') || substr(md5(random()::text), 1, 20))::uuid,
       'bench', 'echo', 'done', 3, now() - interval '40 days', now() - interval '35 days'
FROM generate_series(1, $1) AS i;

-- name: prune_fill_events
-- Events 2..$1 of every job, shaped like the trigger's (a job's progress).
INSERT INTO content_job_events (job_id, seq, event_type, data)
SELECT id, s, 'progress', content_job_event_data(id, 'running', 50::smallint, 'step', NULL, NULL)
FROM content_jobs, generate_series(2, $1) AS s;

-- name: prune_old_shape
-- The same rows in the shape before partitioning: one events table whose foreign key
-- deletes a job's events with it (the jobs' indexes and constraints copied; no triggers).
DROP TABLE IF EXISTS bench_old_events, bench_old_jobs;
CREATE TABLE bench_old_jobs (LIKE content_jobs INCLUDING ALL);
INSERT INTO bench_old_jobs SELECT * FROM content_jobs;
CREATE TABLE bench_old_events (LIKE content_job_events INCLUDING ALL);
INSERT INTO bench_old_events SELECT * FROM content_job_events;
ALTER TABLE bench_old_events
    ADD FOREIGN KEY (job_id) REFERENCES bench_old_jobs (id) ON DELETE CASCADE;

-- name: prune_old_batch
-- What prune did before partitioning, one batch: lock up to $2 jobs finished before $1,
-- delete them and, by cascade, their events; how many went.
WITH expired AS (
    SELECT id FROM bench_old_jobs
    WHERE finished_at < $1 AND status IN ('done', 'failed', 'cancelled')
    ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED
), gone AS (
    DELETE FROM bench_old_jobs WHERE id IN (SELECT id FROM expired) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: prune_old_drop
DROP TABLE bench_old_events, bench_old_jobs;

-- name: count_events
SELECT count(*) FROM content_job_events;

-- name: pgq_window
-- pgqueuer's jobs done, and the window from the first pick to the last success.
SELECT count(*) FILTER (WHERE status = 'successful') AS done,
       extract(epoch FROM max(created) FILTER (WHERE status = 'successful')
                        - min(created) FILTER (WHERE status = 'picked'))::float8 AS seconds
FROM pgqueuer_log;

-- name: pgq_unfinished
-- Whether any of pgqueuer's jobs is not yet done (it deletes a job when it succeeds).
SELECT EXISTS (SELECT FROM pgqueuer);

-- name: pgq_reset
-- An empty pgqueuer queue and log between runs.
TRUNCATE pgqueuer, pgqueuer_log;

-- name: write_counters
-- The database's write counters now (pg_stat_database of the current database, and the WAL
-- position): what an interval's write rate is computed from.
SELECT xact_commit::bigint AS commits, tup_inserted::bigint AS inserted,
       tup_updated::bigint AS updated, (pg_current_wal_lsn() - '0/0'::pg_lsn)::float8 AS wal_bytes
FROM pg_stat_database WHERE datname = current_database();

-- name: claim_jobs_2026_11_28
-- The fair claim of the 2026-11-28 run of record (before run tokens, the CPU window,
-- pipelines and flow control): the yardstick of issue 23's "within 20 % of today's claim"
-- in bench/claim.py, measured in the same run. Benchmarks only.
WITH RECURSIVE companies AS (
    (SELECT company_id FROM content_jobs WHERE status = 'queued'
     ORDER BY company_id LIMIT 1)
    UNION ALL
    SELECT (SELECT j.company_id FROM content_jobs j
            WHERE j.status = 'queued' AND j.company_id > c.company_id
            ORDER BY j.company_id LIMIT 1)
    FROM companies c WHERE c.company_id IS NOT NULL
), load AS MATERIALIZED (
    SELECT c.company_id,
           (SELECT count(*) FROM content_jobs r
            WHERE r.status = 'running' AND r.company_id = c.company_id) AS running
    FROM companies c WHERE c.company_id IS NOT NULL
), candidates AS (
    SELECT ready.id, ready.priority, ready.run_at, l.running + ready.turn AS share
    FROM load l
    CROSS JOIN LATERAL (
        SELECT j.id, j.priority, j.run_at,
               row_number() OVER (ORDER BY j.priority DESC, j.run_at, j.id) AS turn
        FROM content_jobs j
        WHERE j.status = 'queued' AND j.company_id = l.company_id AND j.run_at <= now()
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT CASE WHEN $4::int IS NULL
                   THEN 2 * $3
                   ELSE GREATEST(0, LEAST($3, $4 - l.running)) END
    ) ready
), ranked AS MATERIALIZED (
    -- the ranked ids as an array: whatever the table's statistics say, the rows are then
    -- found by primary key (a semi-join here turned into a scan of the whole backlog when
    -- they were taken while the queue was empty); materialized, so it is computed once
    SELECT ARRAY(SELECT id FROM candidates
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
        lease_expires_at = now() + make_interval(secs => $2), error_message = NULL,
        progress_percent = 0, progress_message = NULL, event_seq = j.event_seq + 1
    FROM picked WHERE j.id = picked.id
    RETURNING j.*
)
SELECT * FROM job ORDER BY priority DESC, run_at, id;

-- History (bench/history.py): the same measurements on an empty table and beside a million
-- finished jobs.

-- name: history_fill
-- $1 finished jobs (numbered from $5 + 1: fill in chunks) spread round-robin over $2
-- companies, created evenly from $3 to $4 (ids
-- time-ordered like the service's UUIDv7, so their events land in their days' partitions),
-- each ended a second after its start. Within each company (the n-th job of a company is
-- i / $2): 90 % done, 7 % failed, 3 % cancelled; 60 % echo, 30 % sleep, 10 % markdown.html; a
-- third with an idempotency key; every one with a source task of four jobs.
-- event_seq is 3: the trigger writes the terminal event, history_fill_events the two before.
INSERT INTO content_jobs
    (id, company_id, job_type, status, input, source_task_id, progress_percent, result,
     error_message, max_attempts, idempotency_key, idempotency_hash, event_seq, priority,
     run_at, created_at, started_at, finished_at, updated_at)
SELECT (lpad(to_hex(floor(extract(epoch FROM t.at) * 1000)::bigint), 12, '0')
        || substr(md5(random()::text), 1, 20))::uuid,
       'company-' || (i % $2), t.job_type, t.status, '{"n": 1}', 'task-' || (i / $2 / 4),
       CASE WHEN t.status = 'done' THEN 100 ELSE 50 END,
       CASE WHEN t.status = 'done' THEN '{"n": 1}'::jsonb END,
       CASE WHEN t.status = 'failed' THEN 'boom' END, 3,
       CASE WHEN i % 3 = 0 THEN 'history-' || i END,
       CASE WHEN i % 3 = 0 THEN md5(i::text) END, 3, 0,
       t.at, t.at, t.at + interval '100 ms', t.at + interval '1100 ms', t.at + interval '1100 ms'
FROM generate_series($5::int + 1, $5::int + $1) AS i,
     LATERAL (SELECT $3::timestamptz + ($4::timestamptz - $3::timestamptz) * (i - $5 - 1) / $1 AS at,
                     CASE WHEN i / $2 % 100 < 90 THEN 'done' WHEN i / $2 % 100 < 97 THEN 'failed'
                          ELSE 'cancelled' END AS status,
                     CASE WHEN i / $2 % 10 < 6 THEN 'echo' WHEN i / $2 % 10 < 9 THEN 'sleep'
                          ELSE 'markdown.html' END AS job_type) AS t;

-- name: history_fill_events
-- Events 1 (queued) and 2 (running) of the jobs with ids in [$1, $2), before the terminal
-- event the trigger wrote: a finished job's three status events.
INSERT INTO content_job_events (job_id, seq, event_type, data, created_at)
SELECT j.id, s, 'status',
       content_job_event_data(j.id, CASE s WHEN 1 THEN 'queued' ELSE 'running' END,
                              0::smallint, NULL, NULL, NULL),
       CASE s WHEN 1 THEN j.created_at ELSE j.started_at END
FROM content_jobs j, generate_series(1, 2) AS s
WHERE j.id >= $1 AND j.id < $2;

-- name: history_id_floor
-- The smallest job id of instant $1 (NULL: the database's clock now): every job created from
-- then on has an id at least this, so the jobs a measurement adds are told apart from history.
SELECT content_job_id_floor(COALESCE($1::timestamptz, clock_timestamp()));

-- name: history_window
-- The days of history to fill, ending a minute before the database's now: ($1 days before
-- it, that minute) and the UTC days of both (their events' partitions).
SELECT now() - make_interval(days => $1) AS first, now() - interval '1 minute' AS last,
       ((now() - make_interval(days => $1)) AT TIME ZONE 'UTC')::date AS first_day,
       (now() AT TIME ZONE 'UTC')::date AS last_day;

-- name: history_backlog
-- $1 queued echo jobs spread round-robin over $2 companies, in one statement, with
-- time-ordered ids (as the service's), so they sort after every job of the history.
INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)
SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || substr(md5(random()::text), 1, 20))::uuid, 'company-' || (i % $2), 'echo',
       '{"n": 1}', 3
FROM generate_series(1, $1) AS i;

-- name: history_clear
-- What one measurement added (jobs with ids from $1 on, and their events): gone, so the next
-- measurement starts from the same table. The history stays.
WITH events AS (DELETE FROM content_job_events WHERE job_id >= $1)
DELETE FROM content_jobs WHERE id >= $1;

-- name: history_queued
-- Jobs queued (content_jobs_ready, a partial index of exactly those).
SELECT count(*) FROM content_jobs WHERE status = 'queued';

-- name: history_throughput_window
-- The jobs with ids from $1 on that are done, and the window from the first claim to the last
-- finish, in seconds.
SELECT count(*) AS done,
       extract(epoch FROM max(finished_at) - min(started_at))::float8 AS seconds
FROM content_jobs WHERE id >= $1 AND status = 'done';

-- name: history_counts
-- Jobs and event rows in the tables now.
SELECT (SELECT count(*) FROM content_jobs) AS jobs,
       (SELECT count(*) FROM content_job_events) AS events;

-- name: history_vacuum
-- Dead rows of the last measurement gone and statistics fresh before the next (a
-- measurement's own autovacuum would land at random in another's window).
VACUUM ANALYZE content_jobs, content_job_events;

-- name: history_queued_of
-- $2 of company $1's queued jobs (the plans' subjects).
SELECT id FROM content_jobs WHERE company_id = $1 AND status = 'queued' ORDER BY id LIMIT $2;

-- name: history_finished_of
-- One of company $1's finished jobs (NULL when it has none: the empty table).
SELECT id FROM content_jobs
WHERE company_id = $1 AND status IN ('done', 'failed', 'cancelled') LIMIT 1;

-- name: pages_of_jobs_from
-- How many heap pages hold the jobs with ids from $1 on (how scattered they are).
SELECT count(DISTINCT (ctid::text::point)[0]) FROM content_jobs WHERE id >= $1;
