-- content-jobs: jobs, their event history and their result assets.
-- depends:

CREATE TABLE content_jobs (
    id               uuid PRIMARY KEY,
    company_id       text NOT NULL CHECK (company_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    job_type         text NOT NULL CHECK (job_type <> ''),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    input            jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(input) = 'object'),
    source_task_id   text,
    progress_percent smallint NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    progress_message text,
    result           jsonb,
    result_asset_id  uuid,
    error_message    text,
    -- the attempt the job is on: 1 at submit, + 1 each time an expired lease requeues it
    attempts         integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    worker_id        text,
    lease_expires_at timestamptz,
    idempotency_key  text CHECK (char_length(idempotency_key) BETWEEN 1 AND 200),
    idempotency_hash text,
    -- sequence number of the job's newest row in content_job_events
    event_seq        integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at       timestamptz,
    finished_at      timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT content_jobs_idempotency_unique UNIQUE (company_id, idempotency_key),
    CONSTRAINT content_jobs_idempotency_hash CHECK ((idempotency_key IS NULL) = (idempotency_hash IS NULL)),
    CONSTRAINT content_jobs_running_has_lease
        CHECK (status <> 'running' OR (lease_expires_at IS NOT NULL AND worker_id IS NOT NULL)),
    CONSTRAINT content_jobs_terminal_has_finish
        CHECK ((status IN ('done', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT content_jobs_attempts_within_limit CHECK (attempts <= max_attempts)
);

-- the list query: a company's jobs, newest first, keyset-paginated
CREATE INDEX content_jobs_company_created ON content_jobs (company_id, created_at DESC, id DESC);
-- claiming: oldest queued first
CREATE INDEX content_jobs_queued ON content_jobs (created_at, id) WHERE status = 'queued';
-- the lease reaper
CREATE INDEX content_jobs_running_lease ON content_jobs (lease_expires_at) WHERE status = 'running';
-- retention: terminal jobs by age
CREATE INDEX content_jobs_finished ON content_jobs (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE content_job_events (
    job_id     uuid NOT NULL REFERENCES content_jobs (id) ON DELETE CASCADE,
    seq        integer NOT NULL CHECK (seq >= 1),
    event_type text NOT NULL CHECK (event_type IN ('status', 'progress')),
    data       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE content_assets (
    id           uuid PRIMARY KEY,
    company_id   text NOT NULL CHECK (company_id ~ '^[A-Za-z0-9_-]{1,64}$'),
    job_id       uuid REFERENCES content_jobs (id) ON DELETE CASCADE,
    object_key   text NOT NULL UNIQUE,
    filename     text,
    content_type text NOT NULL,
    byte_size    bigint NOT NULL CHECK (byte_size >= 0),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX content_assets_job ON content_assets (job_id);

-- The body of every event row: what a stream sends as `data`. One definition,
-- so the snapshot sent first and every later event always have the same shape.
CREATE FUNCTION content_job_event_data(
    job_id uuid, status text, percent smallint, message text, asset uuid, error text
) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'jobId', job_id, 'status', status,
        'progress', jsonb_build_object('percent', percent, 'message', message),
        'resultAssetId', asset, 'errorMessage', error)
$$;

-- Every change that moves a job's event_seq appends its event row, in the same
-- transaction: a state change without its event cannot be committed. A change
-- of status is a `status` event; anything else (progress) a `progress` event.
CREATE FUNCTION content_jobs_append_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_events (job_id, seq, event_type, data)
    VALUES (
        NEW.id,
        NEW.event_seq,
        CASE WHEN TG_OP = 'INSERT' OR OLD.status <> NEW.status THEN 'status' ELSE 'progress' END,
        content_job_event_data(NEW.id, NEW.status, NEW.progress_percent, NEW.progress_message,
                               NEW.result_asset_id, NEW.error_message));
    RETURN NULL;
END
$$;

CREATE TRIGGER content_jobs_event_on_insert AFTER INSERT ON content_jobs
    FOR EACH ROW EXECUTE FUNCTION content_jobs_append_event();
CREATE TRIGGER content_jobs_event_on_change AFTER UPDATE OF event_seq ON content_jobs
    FOR EACH ROW WHEN (NEW.event_seq <> OLD.event_seq)
    EXECUTE FUNCTION content_jobs_append_event();
