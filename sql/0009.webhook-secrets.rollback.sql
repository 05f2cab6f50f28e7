CREATE OR REPLACE FUNCTION content_jobs_enqueue_callback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_callbacks (job_id, url) VALUES (NEW.id, NEW.callback_url);
    RETURN NULL;
END
$$;
DROP TABLE content_job_callback_hosts;
DROP INDEX content_job_callbacks_held;
ALTER TABLE content_job_callbacks DROP COLUMN company_id, DROP COLUMN host;
DROP FUNCTION content_jobs_callback_host(text);
DROP TABLE content_job_webhook_secrets;
