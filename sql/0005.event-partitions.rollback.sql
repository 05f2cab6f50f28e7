-- Back to one events table with its foreign key (rows of jobs deleted meanwhile are dropped).
ALTER TABLE content_job_events RENAME TO content_job_events_partitioned;
ALTER TABLE content_job_events_partitioned
    RENAME CONSTRAINT content_job_events_pkey TO content_job_events_partitioned_pkey;
CREATE TABLE content_job_events (
    job_id     uuid NOT NULL REFERENCES content_jobs (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq >= 1),
    event_type text NOT NULL CHECK (event_type IN ('status', 'progress')),
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (job_id, seq)
);
INSERT INTO content_job_events
SELECT e.* FROM content_job_events_partitioned e JOIN content_jobs j ON j.id = e.job_id;
DROP TABLE content_job_events_partitioned;
DROP FUNCTION content_job_events_drop_partitions(timestamptz);
DROP FUNCTION content_job_events_add_partitions(date, date);
DROP FUNCTION content_job_day_start(date);
DROP FUNCTION content_job_id_floor(timestamptz);
