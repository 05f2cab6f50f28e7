"""Throughput: queued echo jobs executed by 1 and by 2 worker replicas, and by procrastinate.

Each run starts its workers idle, then inserts all jobs in one statement and
wakes them with the NOTIFY the service's notifier would send. Jobs/s is the
job count over the window from the first claim (`started_at`) to the last
finish (`finished_at`), read from the table afterwards. The peer run does the
same with procrastinate (no-op task, same concurrency per worker, its own
database on the same server), in the same benchmark run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import asyncpg

from bench import peer
from bench.cluster import QUERIES, ROOT, Cluster, raise_nofile, with_database
from bench.options import PROFILES, Options
from bench.start import wait_finished
from bench.stats import fmt, median_runs

PEER_DATABASE = "procrastinate_bench"


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    peer_dsn = await _peer_database(cluster)
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(options.runs):
        for workers in options.throughput_workers:
            figures = await ours(cluster, options, workers)
            runs.setdefault(f"{workers} worker{'s' if workers > 1 else ''}", []).append(figures)
        runs.setdefault("procrastinate", []).append(await theirs(peer_dsn, options))
    cases: dict[str, Any] = {
        name: {"median": median_runs(r), "runs": r} for name, r in runs.items()
    }
    ratio = (
        cases["1 worker"]["median"]["jobs_per_s"] / cases["procrastinate"]["median"]["jobs_per_s"]
    )
    return {"cases": cases, "ours_over_procrastinate": round(ratio, 2)}


async def ours(cluster: Cluster, options: Options, workers: int) -> dict[str, Any]:
    await cluster.reset()
    replicas = [
        await cluster.replica(
            "worker", pool_size=options.pool_size, concurrency=options.concurrency
        )
        for _ in range(workers)
    ]
    if options.profile:
        PROFILES.mkdir(parents=True, exist_ok=True)
        replicas[0].profile(10, PROFILES / f"throughput-{workers}-worker.txt")
    db = cluster.db()
    async with db.transaction():
        await cluster.insert_jobs(options.throughput_jobs, "echo", [{"n": 1}])
        await db.execute(QUERIES["wake_workers"])
    await wait_finished(cluster, timeout=600)
    row = await db.fetchrow(QUERIES["throughput_window"])
    assert row is not None
    for replica in replicas:
        replica.stop()
    return {"jobs": row["done"], "seconds": round(row["seconds"], 3),
            "jobs_per_s": round(row["done"] / row["seconds"], 1)}  # fmt: skip


async def theirs(dsn: str, options: Options) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(QUERIES["peer_reset"])
        worker = _peer_worker(dsn, options.concurrency)
        try:
            await asyncio.sleep(2)  # the worker connects and LISTENs
            await peer.defer_jobs(dsn, options.throughput_jobs)
            async with asyncio.timeout(600):
                while await conn.fetchval(QUERIES["peer_unfinished"]):
                    await asyncio.sleep(0.1)
            row = await conn.fetchrow(QUERIES["peer_window"])
            assert row is not None
        finally:
            worker.terminate()
            worker.wait()
    finally:
        await conn.close()
    return {"jobs": row["done"], "seconds": round(row["seconds"], 3),
            "jobs_per_s": round(row["done"] / row["seconds"], 1)}  # fmt: skip


def _peer_worker(dsn: str, concurrency: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.peer", dsn, str(concurrency)],
        cwd=ROOT,
        preexec_fn=raise_nofile,  # only raises a limit before exec
    )


async def _peer_database(cluster: Cluster) -> str:
    dsn = with_database(cluster.dsn, PEER_DATABASE)
    if not await cluster.db().fetchval(QUERIES["database_exists"], PEER_DATABASE):
        await cluster.db().execute(f"CREATE DATABASE {PEER_DATABASE}")
        await peer.apply_schema(dsn)
    return dsn


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for case, data in result["cases"].items():
        m = data["median"]
        target = ""
        if case == "1 worker":
            target = ">= 1,500 jobs/s"
        elif case == "procrastinate":
            target = "ours >= 3x"
        text = f"{fmt(m['jobs_per_s'])} jobs/s ({m['jobs']:g} jobs in {fmt(m['seconds'])} s)"
        if case == "procrastinate":
            text += f"; ours (1 worker) = {result['ours_over_procrastinate']:.2f}x"
        out.append(["throughput", case, text, target])
    return out
