ALTER TABLE content_jobs DROP COLUMN run_token;
DROP SEQUENCE content_jobs_run_token_seq;
