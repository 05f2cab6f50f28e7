-- Completion callbacks: a job submitted with `callback_url` gets one delivery row when it ends,
-- written by a trigger in the transaction of its terminal state (whatever ends it: a worker,
-- a cancel, the lease reaper), and each attempt at sending it is kept.
-- depends: 0003.queue-semantics

ALTER TABLE content_jobs
    ADD COLUMN callback_url text CHECK (char_length(callback_url) BETWEEN 1 AND 2000);

CREATE TABLE content_job_callbacks (
    -- the delivery id: `X-Content-Jobs-Delivery`, the same on every retry of it
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id          uuid NOT NULL REFERENCES content_jobs (id) ON DELETE CASCADE,
    url             text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    -- the HTTP status of the last attempt; NULL when it got no answer (see last_error)
    last_status     integer,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- a worker sending it holds it until then (a killed worker's claim runs out)
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX content_job_callbacks_due ON content_job_callbacks (next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX content_job_callbacks_job ON content_job_callbacks (job_id, created_at DESC);

CREATE TABLE content_job_callback_attempts (
    delivery_id uuid NOT NULL REFERENCES content_job_callbacks (id) ON DELETE CASCADE,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    status      integer,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (delivery_id, attempt)
);

CREATE FUNCTION content_jobs_enqueue_callback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_callbacks (job_id, url) VALUES (NEW.id, NEW.callback_url);
    RETURN NULL;
END
$$;

CREATE TRIGGER content_jobs_callback_on_end AFTER UPDATE OF status ON content_jobs
    FOR EACH ROW
    WHEN (NEW.callback_url IS NOT NULL
          AND NEW.status IN ('done', 'failed', 'cancelled')
          AND OLD.status NOT IN ('done', 'failed', 'cancelled'))
    EXECUTE FUNCTION content_jobs_enqueue_callback();
