-- Completion callbacks, hardened: each company signs with its own secret, and one company's
-- (or one host's) failing receivers cannot hold every sender.
-- * content_job_webhook_secrets: a company's signing secret, encrypted (AES-GCM, key derived
--   from WEBHOOK_SECRET, the company id as associated data), and the one it replaced, still
--   signing beside it until `previous_until` (24 h after a rotation). Created on first use.
-- * content_job_callbacks.company_id / host: what the claim counts in-flight deliveries by
--   (at most a few per company and per host, whatever their backlog).
-- * content_job_callback_hosts: each host's run of consecutive unanswered attempts; past a
--   threshold its deliveries are left alone until `open_until` (a circuit breaker).
-- depends: 0006.queue-statistics

CREATE TABLE content_job_webhook_secrets (
    company_id      text PRIMARY KEY,
    -- nonce (12 bytes) || AES-GCM ciphertext of the secret's 32 bytes
    secret          bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    previous_secret bytea,
    previous_until  timestamptz
);

-- The host of a callback URL as the claim counts it: lower case, without user, port or a
-- trailing dot; an IPv6 literal keeps its brackets. The URL was checked at submit.
CREATE FUNCTION content_jobs_callback_host(url text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT rtrim(lower(substring(url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?(\[[^]/]*\]|[^:/?#]*)')), '.')
$$;

ALTER TABLE content_job_callbacks ADD COLUMN company_id text, ADD COLUMN host text;
UPDATE content_job_callbacks c
SET company_id = j.company_id, host = content_jobs_callback_host(c.url)
FROM content_jobs j WHERE j.id = c.job_id;
ALTER TABLE content_job_callbacks
    ALTER COLUMN company_id SET NOT NULL, ALTER COLUMN host SET NOT NULL;
-- the deliveries being sent now, which the claim counts per company and per host
CREATE INDEX content_job_callbacks_held ON content_job_callbacks (locked_until)
    WHERE state = 'pending' AND locked_until IS NOT NULL;

CREATE TABLE content_job_callback_hosts (
    host       text PRIMARY KEY,
    -- consecutive attempts that got no answer (timeout, refused, reset); an answer resets it
    failures   integer NOT NULL DEFAULT 0,
    -- while in the future, the host's deliveries are not claimed
    open_until timestamptz
);

CREATE OR REPLACE FUNCTION content_jobs_enqueue_callback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO content_job_callbacks (job_id, url, company_id, host)
    VALUES (NEW.id, NEW.callback_url, NEW.company_id,
            content_jobs_callback_host(NEW.callback_url));
    RETURN NULL;
END
$$;
