ALTER TABLE content_jobs RESET (fillfactor);
