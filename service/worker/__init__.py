"""The worker: the runner (claims, leases, fencing), a run's context, the CPU process
pool and the completion-callback sender."""
