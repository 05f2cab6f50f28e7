-- Event rows partitioned by the day their job was created, so that retention drops a whole
-- day's partition instead of deleting millions of rows one by one.
-- depends: 0004.callbacks
--
-- Job ids are UUIDv7 from now on: their first 48 bits are the creation time in milliseconds,
-- so the jobs of one (UTC) day are one contiguous range of ids, and the events table can be
-- partitioned by RANGE (job_id) with no new column: every read by job id finds its partition.
-- Ids of jobs created before this migration (random UUIDv4) fall outside the days' ranges;
-- their events live in the default partition, where prune deletes them with their jobs.
--
-- The foreign key to content_jobs goes: deleting a job no longer deletes its events row by row.
-- Events are written only by the trigger of 0001, from a job row in the same transaction, so
-- none can name a job that never existed; prune drops a day's partition once no job of that day
-- is left (`content_job_events_drop_partitions`), and deletes default-partition rows itself.

-- The smallest UUIDv7 of instant `at`: the lower bound of the ids created from then on.
CREATE FUNCTION content_job_id_floor(at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (lpad(to_hex(floor(extract(epoch FROM at) * 1000)::bigint), 12, '0')
            || '00000000000000000000')::uuid
$$;

-- Midnight UTC of `day`: partitions are UTC days whatever the session's TimeZone.
CREATE FUNCTION content_job_day_start(day date) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT day::timestamp AT TIME ZONE 'UTC'
$$;

ALTER TABLE content_job_events RENAME TO content_job_events_unpartitioned;
ALTER TABLE content_job_events_unpartitioned
    RENAME CONSTRAINT content_job_events_pkey TO content_job_events_unpartitioned_pkey;

CREATE TABLE content_job_events (
    job_id     uuid NOT NULL,
    seq        integer NOT NULL CHECK (seq >= 1),
    event_type text NOT NULL CHECK (event_type IN ('status', 'progress')),
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (job_id, seq)
) PARTITION BY RANGE (job_id);

-- Rows whose day has no partition: jobs from before this migration, or a day nobody created
-- a partition for in time (nothing is lost: they wait here for prune).
CREATE TABLE content_job_events_default PARTITION OF content_job_events DEFAULT;

-- Adds the missing partitions of days first_day..last_day; returns how many it added. Safe
-- to run from many replicas at once. A day whose rows already went to the default partition
-- is skipped (attaching it would have to move them): its events stay in the default partition.
CREATE FUNCTION content_job_events_add_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
    day date;
    name text;
    added integer := 0;
BEGIN
    FOR day IN SELECT d::date FROM generate_series(first_day, last_day, interval '1 day') AS d LOOP
        name := 'content_job_events_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF content_job_events FOR VALUES FROM (%L) TO (%L)',
                name,
                content_job_id_floor(content_job_day_start(day)),
                content_job_id_floor(content_job_day_start(day + 1)));
            added := added + 1;
        EXCEPTION
            WHEN duplicate_table THEN NULL;  -- another replica added it meanwhile
            WHEN check_violation THEN
                RAISE WARNING 'content_job_events: % not added, the default partition holds its rows', name;
        END;
    END LOOP;
    RETURN added;
END
$$;

-- Drops the partitions of days that ended before `cutoff` and whose jobs are all gone (prune
-- deleted them); returns their names. One whose day still has a job stays for a later prune.
-- Jobs take their ids from the clock when they are created, so no new job joins a past day.
CREATE FUNCTION content_job_events_drop_partitions(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SET lock_timeout = '5s' AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name, to_date(right(c.relname, 8), 'YYYYMMDD') AS day
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'content_job_events'::regclass
          AND c.relname ~ '^content_job_events_p[0-9]{8}$'
        ORDER BY 2
    LOOP
        EXIT WHEN content_job_day_start(part.day + 1) > cutoff;
        CONTINUE WHEN EXISTS (
            SELECT 1 FROM content_jobs
            WHERE id >= content_job_id_floor(content_job_day_start(part.day))
              AND id < content_job_id_floor(content_job_day_start(part.day + 1)));
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END
$$;

DO $$ BEGIN
    PERFORM content_job_events_add_partitions(
        (now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);
END $$;

INSERT INTO content_job_events SELECT * FROM content_job_events_unpartitioned;
DROP TABLE content_job_events_unpartitioned;
