-- The claim's plans depend on how many jobs the planner thinks are queued. Statistics taken
-- while the queue was empty make it plan for an empty queue, and a burst then costs scans of
-- the whole backlog until autovacuum analyzes again; by default that waits for 10 % of the
-- table to change. Analyze after 2 % (at least 1,000 rows) instead.
-- depends: 0005.event-partitions

ALTER TABLE content_jobs
    SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
