DROP TABLE content_job_rate_slots;
DROP TABLE content_job_type_pauses;
