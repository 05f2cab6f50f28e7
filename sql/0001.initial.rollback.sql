DROP TRIGGER content_jobs_event_on_change ON content_jobs;
DROP TRIGGER content_jobs_event_on_insert ON content_jobs;
DROP FUNCTION content_jobs_append_event();
DROP FUNCTION content_job_event_data(uuid, text, smallint, text, uuid, text);
