-- Tracing (OpenTelemetry): the W3C traceparent of the request that submitted a job, written
-- at insert, so whichever worker runs the job (and sends its callback) continues that trace.
-- NULL when tracing was off at submit. Adding a nullable column without a default rewrites
-- nothing.
-- depends: 0009.webhook-secrets

ALTER TABLE content_jobs ADD COLUMN trace_context text;
