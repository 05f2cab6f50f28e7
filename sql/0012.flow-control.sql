-- Flow control (issue 19): paused job types, and the rate limits' recent starts.
-- * content_job_type_pauses: a row per paused type; the claim reads it, so a pause or a resume
--   holds on every worker at its next claim, and survives restarts.
-- * content_job_rate_slots: each rate limit of N starts per T seconds (of a type, or of a
--   type for one company: company_id '' for a limit across companies) has N slots, each
--   holding the time of the start that last used it. A claim may start a limited job only on
--   a slot last used more than T ago, and marks it used in the same transaction; the slots
--   are the limit's N most recent starts, so no window of T seconds holds more than N. Slots
--   are locked FOR UPDATE SKIP LOCKED, so claims never wait on each other for them. Created
--   by the workers (rate_limit_wait), never by the claim, so two claims cannot both count on
--   slots that do not exist yet.
-- depends: 0009.webhook-secrets

CREATE TABLE content_job_type_pauses (
    job_type  text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE content_job_rate_slots (
    job_type   text NOT NULL,
    company_id text NOT NULL DEFAULT '',
    slot       int NOT NULL,
    used_at    timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (job_type, company_id, slot)
);

-- a claim takes a limit's oldest-used slots first: one index probe, however many slots it has
CREATE INDEX content_job_rate_slots_free ON content_job_rate_slots (job_type, company_id, used_at);
