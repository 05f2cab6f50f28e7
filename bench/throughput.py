"""Throughput: queued echo jobs executed by 1 and by 2 worker replicas, by procrastinate and
by pgqueuer (its default batch of 10, and 100).

Each run starts its workers idle, then inserts all jobs in one statement and
wakes them with the NOTIFY the service's notifier would send. Jobs/s is the
job count over the window from the first claim (`started_at`) to the last
finish (`finished_at`), read from the table afterwards. The peer run does the
same with procrastinate (no-op task, same concurrency per worker, its own
database on the same server), in the same benchmark run; pgqueuer likewise (no-op
entrypoint, one consumer, jobs enqueued in one call, `bench/pgq_peer.py`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench import peer, pgq_peer
from bench.cluster import QUERIES, ROOT, Cluster, CpuMeter, raise_nofile, with_database
from bench.options import PROFILES, Options
from bench.start import wait_finished
from bench.stats import fmt, median_runs

PEER_DATABASE = "procrastinate_bench"
PGQ_DATABASE = "pgqueuer_bench"


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    peer_dsn = await _peer_database(cluster, PEER_DATABASE, peer.apply_schema)
    pgq_dsn = await _peer_database(cluster, PGQ_DATABASE, pgq_peer.apply_schema)
    runs: dict[str, list[dict[str, Any]]] = {}
    wide = pgq_peer.BATCH_SIZES[-1]  # as many jobs in flight as pgqueuer's larger batch holds
    for _ in range(options.runs):
        for workers in options.throughput_workers:
            figures = await ours(cluster, options, workers, options.concurrency)
            runs.setdefault(f"{workers} worker{'s' if workers > 1 else ''}", []).append(figures)
        if wide != options.concurrency:
            runs.setdefault(f"1 worker, concurrency {wide}", []).append(
                await ours(cluster, options, 1, wide)
            )
        runs.setdefault("1 worker, FIFO claim", []).append(
            await ours(cluster, options, 1, options.concurrency, module="bench.fifo_worker")
        )
        runs.setdefault("procrastinate", []).append(await theirs(cluster, peer_dsn, options))
        for batch in pgq_peer.BATCH_SIZES:
            runs.setdefault(f"pgqueuer (batch {batch})", []).append(
                await pgqueuer(cluster, pgq_dsn, options, batch)
            )
    cases: dict[str, Any] = {
        name: {"median": median_runs(r), "runs": r} for name, r in runs.items()
    }
    ours_1 = cases["1 worker"]["median"]["jobs_per_s"]
    ours_best = max(
        case["median"]["jobs_per_s"] for name, case in cases.items() if name.startswith("1 worker")
        and "FIFO" not in name
    )  # fmt: skip
    best_pgq = max(
        cases[f"pgqueuer (batch {batch})"]["median"]["jobs_per_s"] for batch in pgq_peer.BATCH_SIZES
    )
    fifo = cases["1 worker, FIFO claim"]["median"]["jobs_per_s"]
    return {
        "cases": cases,
        "fair_over_fifo": round(ours_1 / fifo, 2),
        "ours_over_procrastinate": round(
            ours_1 / cases["procrastinate"]["median"]["jobs_per_s"], 2
        ),
        "ours_over_pgqueuer": round(ours_best / best_pgq, 2),
        # the defaults against each other: RUNNER_CONCURRENCY's and pgqueuer's batch of 10
        "default_over_pgqueuer_default": round(
            ours_1 / cases[f"pgqueuer (batch {pgq_peer.BATCH_SIZES[0]})"]["median"]["jobs_per_s"], 2
        ),
    }


async def ours(
    cluster: Cluster, options: Options, workers: int, concurrency: int, module: str = "service"
) -> dict[str, Any]:
    await cluster.reset()
    replicas = [
        await cluster.replica("worker", pool_size=options.pool_size, concurrency=concurrency)
        for _ in range(workers)
    ]
    if options.profile:
        PROFILES.mkdir(parents=True, exist_ok=True)
        replicas[0].profile(10, PROFILES / f"throughput-{workers}-worker.txt")
    db = cluster.db()
    cpu = CpuMeter(cluster, [replica.pid for replica in replicas])
    async with db.transaction():
        await cluster.insert_jobs(options.throughput_jobs, "echo", [{"n": 1}])
        # statistics of the backlog as autovacuum would have them within a minute: without
        # this, a run after one whose rows were analyzed when all were done plans its claims
        # for an empty queue (see BENCHMARKS.md, "Throughput")
        await db.execute("ANALYZE content_jobs")
        await db.execute(QUERIES["wake_workers"])
    await wait_finished(cluster, timeout=600)
    row = await db.fetchrow(QUERIES["throughput_window"])
    assert row is not None
    used = _per_job(cpu, row["done"])
    for replica in replicas:
        replica.stop()
    return {**_window(row), **used}


async def theirs(cluster: Cluster, dsn: str, options: Options) -> dict[str, Any]:
    """procrastinate: one worker at our concurrency, jobs deferred in bulk."""
    return await _peer_run(
        cluster, dsn, "peer", "bench.peer", options.concurrency,
        lambda: peer.defer_jobs(dsn, options.throughput_jobs), settle=0.0,
    )  # fmt: skip


async def pgqueuer(cluster: Cluster, dsn: str, options: Options, batch: int) -> dict[str, Any]:
    """pgqueuer: one consumer with batches of `batch`; its buffered log of the last
    successes is flushed within half a second of the last job."""
    return await _peer_run(
        cluster, dsn, "pgq", "bench.pgq_peer", batch,
        lambda: pgq_peer.enqueue_jobs(dsn, options.throughput_jobs), settle=0.5,
    )  # fmt: skip


async def _peer_run(
    cluster: Cluster,
    dsn: str,
    queries: str,
    module: str,
    arg: int,
    enqueue: Callable[[], Awaitable[None]],
    settle: float,
) -> dict[str, Any]:
    """A peer's consumer process started idle, the jobs enqueued, the table polled until
    none is left unfinished; jobs/s over the window its own rows record (queries
    `{queries}_reset`, `_unfinished` and `_window` in bench/queries.sql)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(QUERIES[f"{queries}_reset"])
        worker = _peer_worker(module, dsn, arg)
        try:
            await asyncio.sleep(2)  # the consumer connects and LISTENs
            cpu = CpuMeter(cluster, [worker.pid])
            await enqueue()
            async with asyncio.timeout(600):
                while await conn.fetchval(QUERIES[f"{queries}_unfinished"]):
                    await asyncio.sleep(0.1)
            await asyncio.sleep(settle)
            row = await conn.fetchrow(QUERIES[f"{queries}_window"])
            assert row is not None
            used = _per_job(cpu, row["done"])
        finally:
            worker.terminate()
            worker.wait()
    finally:
        await conn.close()
    return {**_window(row), **used}


def _window(row: asyncpg.Record) -> dict[str, Any]:
    """Jobs/s over the window from the first claim to the last finish."""
    return {"jobs": row["done"], "seconds": round(row["seconds"], 3),
            "jobs_per_s": round(row["done"] / row["seconds"], 1)}  # fmt: skip


def _peer_worker(module: str, dsn: str, arg: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, dsn, str(arg)],
        cwd=ROOT,
        preexec_fn=raise_nofile,  # only raises a limit before exec
    )


async def _peer_database(
    cluster: Cluster, name: str, apply_schema: Callable[[str], Awaitable[None]]
) -> str:
    dsn = with_database(cluster.dsn, name)
    if not await cluster.db().fetchval(QUERIES["database_exists"], name):
        await cluster.db().execute(f"CREATE DATABASE {name}")
        await apply_schema(dsn)
    return dsn


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for case, data in result["cases"].items():
        m = data["median"]
        target = ""
        text = f"{fmt(m['jobs_per_s'])} jobs/s ({m['jobs']:g} jobs in {fmt(m['seconds'])} s)"
        if "worker_us_per_job" in m:
            text += (f"; CPU per job: worker {fmt(m['worker_us_per_job'])} us,"
                     f" Postgres {fmt(m['postgres_us_per_job'])} us")  # fmt: skip
        if case == "procrastinate":
            target = "ours >= 5x"
            text += f"; ours (1 worker) = {result['ours_over_procrastinate']:.2f}x"
        elif case == "1 worker, FIFO claim" and "fair_over_fifo" in result:
            target = "fair >= 0.90x FIFO"
            text += f"; fair share (1 worker) = {result['fair_over_fifo']:.2f}x"
        elif case == f"pgqueuer (batch {pgq_peer.BATCH_SIZES[0]})" and (
            "default_over_pgqueuer_default" in result
        ):
            target = "default >= pgqueuer's default"
            text += f"; ours (1 worker, default) = {result['default_over_pgqueuer_default']:.2f}x"
        elif case == f"pgqueuer (batch {pgq_peer.BATCH_SIZES[-1]})":
            target = "ours >= best pgqueuer"
            text += f"; ours (best, 1 worker) / best pgqueuer = {result['ours_over_pgqueuer']:.2f}x"
        out.append(["throughput", case, text, target])
    return out


def _per_job(cpu: CpuMeter, jobs: int) -> dict[str, float]:
    workers, postgres = cpu.per(jobs)
    return {"worker_us_per_job": workers, "postgres_us_per_job": postgres}
