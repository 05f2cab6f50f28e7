DROP INDEX content_jobs_schedule_tick;
ALTER TABLE content_jobs DROP COLUMN schedule_id, DROP COLUMN schedule_tick;
DROP TABLE content_job_schedules;
