"""`python -m bench.fifo_worker serve ...`: the service with its fair claim swapped for the FIFO
claim it replaced (`claim_jobs_fifo` in bench/queries.sql), for the throughput workload to
measure what fair share costs the whole path, in the same run. Benchmarks only: the service
has no such switch.
"""

from __future__ import annotations

import sys

from bench.cluster import QUERIES as BENCH_QUERIES
from service.cli import main
from service.db.queries import QUERIES

if __name__ == "__main__":
    QUERIES["claim_jobs"] = BENCH_QUERIES["claim_jobs_fifo"]
    sys.exit(main())
