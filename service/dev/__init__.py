"""Development tooling, not part of the server: the local Postgres that `content-jobs dev`
and the test suite start when no `DATABASE_URL` is given."""
