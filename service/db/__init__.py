"""The database: the pool, the named queries, the store, group commit, migrations,
the events' partitions and prune."""
