-- Back to the partition functions of 0005 (create and drop in place, 5 s lock timeout).
DROP FUNCTION content_job_events_drop_detached(timestamptz);
DROP FUNCTION content_job_events_detach_partitions(timestamptz);

CREATE OR REPLACE FUNCTION content_job_events_add_partitions(first_day date, last_day date)
RETURNS integer
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
