"""Streamed output fan-out (issue 20, item 4): N `text.typewriter` jobs, each writing
`--rate` chunks a second, each watched by `--watchers` streams on one api replica.

    python -m bench.output --jobs 1000 --watchers 5 --rate 50 --seconds 10

The streams are opened first (plain asyncio clients in processes of their own, as in
`bench/fanout.py`, whose harness this reuses), then a worker replica runs every job at once.
Reported: commit -> client latency of every live event (its arrival at each client minus its
row's `created_at`, one machine clock), and the database's write rate over the run
(transactions, rows inserted and updated, WAL bytes, from `pg_stat_database` and the WAL
position). A handler's `ctx.output()` is coalesced to at most one write per 50 ms per job,
so 50 chunks/s is about 20 output events/s per job.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bench.cluster import COMPANY, QUERIES, Cluster
from bench.fanout import Clients, _latencies
from bench.start import wait_finished
from bench.stats import latency_ms


async def one_run(
    cluster: Cluster, jobs: int, watchers: int, rate: float, seconds: float, pool_size: int
) -> dict[str, Any]:
    await cluster.reset()
    streams = jobs * watchers
    api = await cluster.replica("api", pool_size=pool_size, SSE_MAX_STREAMS_PER_CALLER=str(streams))
    chunk_chars = 5
    text = ("lorem ipsum dolor sit amet " * int(rate * seconds))[
        : int(rate * seconds) * chunk_chars
    ]
    job_input = {"text": text, "chunkChars": chunk_chars, "delayMs": round(1000 / rate)}
    job_ids = await cluster.insert_jobs(jobs, "text.typewriter", [job_input])
    base = f"/api/companies/{COMPANY}/content-jobs"
    paths = [(i % jobs, f"{base}/{job_ids[i % jobs]}/events") for i in range(streams)]
    clients = Clients(api.host, api.port, paths, seconds * 3 + 180, spread=False)
    opened, failed = await clients.opened()
    if failed:
        raise RuntimeError(f"{failed} of {streams} streams did not open: not a figure")
    before = await cluster.db().fetchrow(QUERIES["write_counters"])
    cpu_before, began = api.cpu_seconds(), time.monotonic()
    worker = await cluster.replica("worker", pool_size=pool_size, concurrency=jobs)
    cpu_worker_before = worker.cpu_seconds()
    arrivals = await clients.arrivals()
    elapsed = time.monotonic() - began
    after = await cluster.db().fetchrow(QUERIES["write_counters"])
    api_cpu = (api.cpu_seconds() - cpu_before) / elapsed
    worker_cpu = (worker.cpu_seconds() - cpu_worker_before) / elapsed
    await wait_finished(cluster)
    outputs = await cluster.db().fetchval(
        "SELECT count(*) FROM content_job_events WHERE event_type = 'output'"
    )
    worker.stop()
    api.stop()
    latencies, _steady, missing = await _latencies(cluster, job_ids, arrivals, opened)
    assert before is not None and after is not None

    def per_second(name: str) -> float:
        return round(float(after[name] - before[name]) / elapsed, 1)

    return {
        "jobs": jobs,
        "watchers_per_job": watchers,
        "chunks_per_second_per_job": rate,
        "streams_open": opened,
        "output_events": outputs,
        "output_events_per_second": round(outputs / elapsed, 1),
        "events_delivered": len(arrivals),
        "events_missing": missing,
        **latency_ms(latencies),
        "seconds": round(elapsed, 1),
        "db_commits_per_second": per_second("commits"),
        "db_rows_inserted_per_second": per_second("inserted"),
        "db_rows_updated_per_second": per_second("updated"),
        "db_wal_mib_per_second": round(
            (after["wal_bytes"] - before["wal_bytes"]) / elapsed / 2**20, 2
        ),
        "api_cpu": round(api_cpu, 2),
        "worker_cpu": round(worker_cpu, 2),
    }


async def main(args: argparse.Namespace) -> None:
    cluster = Cluster()
    await cluster.start()
    try:
        for jobs in args.jobs:
            result = await one_run(
                cluster, jobs, args.watchers, args.rate, args.seconds, args.pool_size
            )
            print(json.dumps(result), flush=True)
    finally:
        await cluster.close()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.output", description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1000])
    parser.add_argument("--watchers", type=int, default=5)
    parser.add_argument("--rate", type=float, default=50.0, help="chunks a second per job")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool-size", type=int, default=10)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
