"""The domain: jobs, statuses, limits, submission and quota rules. No I/O, no HTTP."""
