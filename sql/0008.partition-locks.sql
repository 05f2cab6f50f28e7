-- Adding and dropping the events' day partitions no longer stalls writes.
-- depends: 0006.queue-statistics
--
-- 0005 made a day with `CREATE TABLE ... PARTITION OF` and removed one with `DROP TABLE`: both
-- take an ACCESS EXCLUSIVE lock on content_job_events, and while they waited for it (up to
-- 5 s) behind any transaction using the table, every insert of an event, so every submit and
-- every state change, queued behind them (a submit was seen waiting 3 s).
--
-- Now:
-- * A day is made as a table of its own, with a CHECK constraint equal to its bound (so the
--   attach need not scan it), then ATTACHed: that takes SHARE UPDATE EXCLUSIVE on the parent,
--   which no insert, update or read conflicts with. It also takes ACCESS EXCLUSIVE on the
--   default partition and scans it for rows of the new day (none: rows only go to days made
--   ahead; the default partition holds the events of jobs from before 0005 and shrinks as
--   they are pruned). Inserts of new events never touch the default partition.
-- * A day is DETACHed, then dropped in a transaction of its own, so the parent's exclusive lock
--   is held only for the detach, not for removing the day's files. DETACH ... CONCURRENTLY
--   (which would not need that lock) is refused while the table has a default partition, and
--   this one has (content_job_events_default), so the detach is a plain one.
-- * Every change waits at most 200 ms for its locks (lock_timeout, set for the function's
--   duration): a change that cannot get them fails with lock_not_available at once, instead of
--   making every writer queue behind it, and `service/db/partitions.py` retries it later with
--   backoff. Writers wait for a change at most that long.

CREATE OR REPLACE FUNCTION content_job_events_add_partitions(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
DECLARE
    day date;
    name text;
    low uuid;
    high uuid;
    added integer := 0;
BEGIN
    FOR day IN SELECT d::date FROM generate_series(first_day, last_day, interval '1 day') AS d LOOP
        name := 'content_job_events_p' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass(name) IS NOT NULL;
        low := content_job_id_floor(content_job_day_start(day));
        high := content_job_id_floor(content_job_day_start(day + 1));
        BEGIN
            EXECUTE format(
                'CREATE TABLE %I (LIKE content_job_events INCLUDING ALL,'
                ' CONSTRAINT %I CHECK (job_id >= %L AND job_id < %L))',
                name, name || '_bound', low, high);
            EXECUTE format(
                'ALTER TABLE content_job_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                name, low, high);
            -- the partition bound says the same from now on
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', name, name || '_bound');
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

-- Detaches the partitions of days that ended before `cutoff` and whose jobs are all gone (prune
-- deleted them); returns their names. One whose day still has a job stays for a later prune.
-- Jobs take their ids from the clock when they are created, so no new job joins a past day.
-- The detached tables are dropped by content_job_events_drop_detached, in another transaction.
CREATE FUNCTION content_job_events_detach_partitions(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
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
        EXECUTE format('ALTER TABLE content_job_events DETACH PARTITION %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END
$$;

-- Drops the detached day tables of days that ended before `cutoff` (a prune interrupted between
-- its detach and its drop leaves some for the next); returns their names. Only tables named
-- like a day's partition, beside content_job_events, that are no partition of anything.
CREATE FUNCTION content_job_events_drop_detached(cutoff timestamptz) RETURNS SETOF text
LANGUAGE plpgsql SET lock_timeout = '200ms' AS $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name, to_date(right(c.relname, 8), 'YYYYMMDD') AS day
        FROM pg_class c
        WHERE c.relnamespace = (SELECT relnamespace FROM pg_class
                                WHERE oid = 'content_job_events'::regclass)
          AND c.relkind = 'r'
          AND c.relname ~ '^content_job_events_p[0-9]{8}$'
          AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)
        ORDER BY 2
    LOOP
        EXIT WHEN content_job_day_start(part.day + 1) > cutoff;
        EXECUTE format('DROP TABLE %I', part.name);
        RETURN NEXT part.name;
    END LOOP;
END
$$;

-- Replaced by the two above: dropping a partition in place held the parent's exclusive lock
-- until its files were gone.
DROP FUNCTION content_job_events_drop_partitions(timestamptz);
