DROP TRIGGER content_jobs_callback_on_end ON content_jobs;
DROP FUNCTION content_jobs_enqueue_callback();
DROP TABLE content_job_callback_attempts;
DROP TABLE content_job_callbacks;
ALTER TABLE content_jobs DROP COLUMN callback_url;
