ALTER TABLE content_jobs DROP COLUMN trace_context;
