DROP FUNCTION content_job_event_data(uuid, text, smallint, text, uuid, text);
