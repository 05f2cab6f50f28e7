-- Schedules (issue 18): jobs submitted on a clock, by cron (5 fields, an IANA zone) or every
-- N seconds.
-- depends: 0009.webhook-secrets
--
-- * content_job_schedules: one row per schedule; `job` is the submit body its ticks submit.
--   `next_run_at` is the schedule's next tick (NULL while paused); worker replicas claim the
--   due rows in batches (FOR UPDATE SKIP LOCKED, through content_job_schedules_due) and, in
--   the same transaction, insert each one's job and move `next_run_at` past now: ticks missed
--   while nothing ran give one job, not one per tick.
-- * content_jobs.schedule_id / schedule_tick: the schedule and tick a job was submitted for.
--   Unique together, so a tick gives at most one job whatever the number of replicas (no
--   leader to elect). No foreign key: deleting a schedule leaves its jobs.

CREATE TABLE content_job_schedules (
    id             uuid PRIMARY KEY,
    company_id     text NOT NULL,
    name           text NOT NULL CHECK (name <> ''),
    cron           text,
    every_seconds  integer CHECK (every_seconds BETWEEN 1 AND 86400),
    timezone       text NOT NULL DEFAULT 'UTC',
    job            jsonb NOT NULL,
    paused         boolean NOT NULL DEFAULT false,
    next_run_at    timestamptz,
    last_run_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((cron IS NULL) <> (every_seconds IS NULL)),
    UNIQUE (company_id, name)
);

CREATE INDEX content_job_schedules_due ON content_job_schedules (next_run_at)
    WHERE NOT paused;

ALTER TABLE content_jobs ADD COLUMN schedule_id uuid, ADD COLUMN schedule_tick timestamptz;

CREATE UNIQUE INDEX content_jobs_schedule_tick ON content_jobs (schedule_id, schedule_tick)
    WHERE schedule_id IS NOT NULL;
