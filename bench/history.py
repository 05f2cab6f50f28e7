"""History: the claim, execution and submit beside a million finished jobs, against the same on
an empty table, in the same minutes (issue 23: "flat with history", within 10 %).

Retention is the user's choice, and days of finished jobs are normal: nothing a worker or a
submit does every time may read them. Two databases on the benchmark's one server:
- **empty**: the cluster's own, its job tables truncated;
- **history**: `history_jobs` finished jobs (done, failed, cancelled) spread over
  `history_companies` companies and the last `history_days` days, with their three status
  events each (in their days' partitions), then VACUUM ANALYZE.
Each measurement runs on one, then at once on the other (which goes first alternates between
runs): on a shared machine the load drifts by more than 10 % within minutes, so only pairs
taken back to back compare, and the ratio reported is the median of the runs' ratios. Every
measurement starts from the same table: what the previous one added is deleted (the jobs with
ids past the history's, `history_clear`), the tables vacuumed and analyzed, a checkpoint
taken. The measurements, on the history's companies:
- **claim**: `claim_jobs` as bench/claim.py calls it (claims of 16, no cap, no weights), each
  batch marked done at once, `history_claimed` jobs from a backlog of `history_backlog` over the
  companies: the statement alone;
- **execution**: the same backlog run by one worker replica (`concurrency`), jobs/s from the
  first claim to the last finish, as bench/throughput.py measures it;
- **submit**: `wrk` at the largest client count on one api replica (default `info` logs, the
  queue quota at 1,000,000), echo jobs for one of the companies; with Postgres' CPU time over
  the run (the postmaster and every backend), per 1,000 submits.
The claim and the worker also report the WAL they wrote per job. Then, with a backlog in place
in each database, **plans**: every hot statement under EXPLAIN (ANALYZE, BUFFERS) in a
transaction rolled back, the buffers it touched: a statement whose buffers grow with the
history reads finished rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import loadgen
from bench.claim import BATCH, PLAIN
from bench.cluster import QUERIES as BENCH_QUERIES
from bench.cluster import (
    SECRET,
    WORKER_ROLE,
    Cluster,
    Replica,
    cpu_seconds,
    with_database,
    with_user,
)
from bench.options import Options, in_process
from bench.stats import fmt, latency_ms, median_runs
from bench.submit import wrk
from service.api.auth import issue_token
from service.db import migrations
from service.db.pool import init_connection
from service.db.queries import QUERIES
from service.domain.flow import FlowControl, parse_rate_limits

PHASES = ("empty", "history")
#: the history's database, beside the cluster's own (which stays empty)
DATABASE = "bench_history"
#: the company the submits and the plans' single-company statements use
COMPANY = "company-0"
#: history filled in statements of this many jobs (each its own transaction)
FILL_CHUNK = 100_000
#: a rate limit across companies and one per company: rate_limit_wait and the limited claim
FLOW = FlowControl.of(parse_rate_limits("echo=10000/1s,sleep=100/1s/company"), (), {})
#: a statement's buffers with history over those without: past this it reads finished rows
GROWTH = 2.0


@dataclasses.dataclass
class Table:
    """One of the two databases: where its replicas connect, the benchmark's connection, and
    the id from which on jobs are the measurements' (the history's are all below it)."""

    name: str
    dsn: str
    db: asyncpg.Connection[Any]
    boundary: uuid.UUID


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    await cluster.reset()
    empty = Table("empty", cluster.dsn, cluster.db(), await _boundary(cluster.db()))
    history = await _history_database(cluster)
    try:
        fill = await _fill(history.db, options)
        history.boundary = await _boundary(history.db)
        tables = (empty, history)
        runs: dict[str, list[dict[str, Any]]] = {table.name: [] for table in tables}
        for n in range(options.runs):
            figures: dict[str, dict[str, Any]] = {table.name: {} for table in tables}
            for measure in (_claims, _execution, _submits):
                for table in tables if n % 2 == 0 else tables[::-1]:
                    figures[table.name].update(await _fresh(cluster, options, table, measure))
            for table in tables:
                runs[table.name].append(figures[table.name])
        plans = {table.name: await _plans(table, options) for table in tables}
    finally:
        await history.db.close()
    phases = {name: {"median": median_runs(r), "runs": r} for name, r in runs.items()}
    phases["history"].update(fill)
    return {
        "phases": phases,
        "ratios": _ratios(runs),
        "plans": plans,
        "grown": _grown(plans),
        "clients": max(options.submit_concurrency),
        "tool": "wrk" if shutil.which("wrk") else "loadgen",
    }


async def _history_database(cluster: Cluster) -> Table:
    """A database of its own for the history, migrated, on the benchmark's server (made anew:
    the smoke test's cluster outlives one run)."""
    await cluster.db().execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await cluster.db().execute(f"CREATE DATABASE {DATABASE}")
    dsn = with_database(cluster.dsn, DATABASE)
    migrations.apply(dsn)
    db: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    await init_connection(db)
    return Table("history", dsn, db, await _boundary(db))


async def _boundary(db: asyncpg.Connection[Any]) -> uuid.UUID:
    boundary: uuid.UUID = await db.fetchval(BENCH_QUERIES["history_id_floor"], None)
    return boundary


async def _fill(db: asyncpg.Connection[Any], options: Options) -> dict[str, Any]:
    """The history: finished jobs over the last days (their events' partitions first), in
    chunks; then each job's first two events; VACUUM ANALYZE. Returns what it took."""
    began = time.perf_counter()
    window = await db.fetchrow(BENCH_QUERIES["history_window"], options.history_days)
    assert window is not None
    await db.execute(
        "SELECT content_job_events_add_partitions($1, $2)", window["first_day"], window["last_day"]
    )
    first, last, total = window["first"], window["last"], options.history_jobs
    step = (last - first) / total
    for start in range(0, total, FILL_CHUNK):
        count = min(FILL_CHUNK, total - start)
        await db.execute(
            BENCH_QUERIES["history_fill"], count, options.history_companies,
            first + step * start, first + step * (start + count), start,
        )  # fmt: skip
    low = await db.fetchval(BENCH_QUERIES["history_id_floor"], first)
    high = await db.fetchval(BENCH_QUERIES["history_id_floor"], None)
    await db.execute(BENCH_QUERIES["history_fill_events"], low, high)
    await db.execute(BENCH_QUERIES["history_vacuum"])
    counts = await db.fetchrow(BENCH_QUERIES["history_counts"])
    assert counts is not None
    return {
        "history_jobs": counts["jobs"],
        "history_events": counts["events"],
        "fill_seconds": round(time.perf_counter() - began, 1),
    }


Measure = Callable[[Cluster, Options, Table], Awaitable[dict[str, Any]]]


async def _fresh(
    cluster: Cluster, options: Options, table: Table, measure: Measure
) -> dict[str, Any]:
    """`measure` on the table as its history left it: what an earlier measurement added gone,
    vacuumed and analyzed, checkpointed; and gone again after."""
    await table.db.execute(BENCH_QUERIES["history_clear"], table.boundary)
    await table.db.execute(BENCH_QUERIES["history_vacuum"])
    await table.db.execute("CHECKPOINT")
    try:
        return await measure(cluster, options, table)
    finally:
        await table.db.execute(BENCH_QUERIES["history_clear"], table.boundary)


async def _backlog(db: asyncpg.Connection[Any], options: Options) -> None:
    await db.execute(
        BENCH_QUERIES["history_backlog"], options.history_backlog, options.history_companies
    )


async def _claims(cluster: Cluster, options: Options, table: Table) -> dict[str, Any]:
    """claim_jobs alone, as bench/claim.py runs it: jobs/s, and WAL written per job."""
    db = table.db
    await _backlog(db, options)
    await db.execute("ANALYZE content_jobs")
    claimed = 0
    wal = await _wal_bytes(db)
    started = time.perf_counter()
    while claimed < options.history_claimed:
        rows = await db.fetch(QUERIES["claim_jobs"], "bench-history", 30.0, BATCH, *PLAIN)
        if not rows:
            break
        claimed += len(rows)
        await db.execute(BENCH_QUERIES["finish_claimed"], [row["id"] for row in rows])
    seconds = time.perf_counter() - started
    return {
        "claim_jobs_per_s": round(claimed / seconds, 1),
        # the heap pages the backlog's rows ended in: few when they stay together (0017)
        "claim_pages": await db.fetchval(BENCH_QUERIES["pages_of_jobs_from"], table.boundary),
        "claim_wal_kib_per_job": round((await _wal_bytes(db) - wal) / 1024 / max(claimed, 1), 2),
    }


async def _execution(cluster: Cluster, options: Options, table: Table) -> dict[str, Any]:
    """The backlog run by one worker replica started idle, woken as a submit wakes it: jobs/s
    from the first claim to the last finish, and WAL written per job."""
    worker = await cluster.replica(
        "worker", pool_size=options.pool_size, concurrency=options.concurrency,
        DATABASE_URL=with_user(table.dsn, WORKER_ROLE),
    )  # fmt: skip
    db = table.db
    try:
        async with db.transaction():
            await _backlog(db, options)
            # statistics of the backlog as autovacuum would have them (bench/throughput.py)
            await db.execute("ANALYZE content_jobs")
            await db.execute(BENCH_QUERIES["wake_workers"])
        wal = await _wal_bytes(db)
        deadline = time.monotonic() + 600
        while await db.fetchval(BENCH_QUERIES["unfinished"]):
            assert time.monotonic() < deadline, "the worker did not drain the backlog"
            await asyncio.sleep(0.1)
        wal = await _wal_bytes(db) - wal
        row = await db.fetchrow(BENCH_QUERIES["history_throughput_window"], table.boundary)
        assert row is not None and row["done"] == options.history_backlog, row
    finally:
        worker.stop()
    return {
        "worker_jobs_per_s": round(row["done"] / row["seconds"], 1),
        "worker_wal_kib_per_job": round(wal / 1024 / row["done"], 2),
    }


async def _wal_bytes(db: asyncpg.Connection[Any]) -> float:
    """The WAL position now, in bytes: what a measurement wrote is the difference (with
    full_page_writes, a page's first change after a checkpoint writes the whole page)."""
    row = await db.fetchrow(BENCH_QUERIES["write_counters"])
    assert row is not None
    return float(row["wal_bytes"])


async def _submits(cluster: Cluster, options: Options, table: Table) -> dict[str, Any]:
    """Echo jobs POSTed for COMPANY through one api replica under `wrk` (our generator when it
    is not installed), with the replica's and Postgres' CPU over the run."""
    api = await cluster.replica(
        "api", pool_size=options.pool_size, LOG_LEVEL="info", COMPANY_MAX_QUEUED="1000000",
        DATABASE_URL=table.dsn,
    )  # fmt: skip
    clients = max(options.submit_concurrency)
    bearer = issue_token(SECRET, [COMPANY], sub="bench")
    try:
        pg_before, api_before = _postgres_cpu(cluster), api.cpu_seconds()
        began = time.monotonic()
        rps, p99 = await _load(cluster, api, options, clients, bearer)
        seconds = time.monotonic() - began
        pg_cpu, api_cpu = _postgres_cpu(cluster) - pg_before, api.cpu_seconds() - api_before
    finally:
        api.stop()
    # nothing runs them: every job queued now is a submit of this run
    submits = await table.db.fetchval(BENCH_QUERIES["history_queued"])
    return {
        "submit_rps": rps,
        "submit_p99_ms": p99,
        "api_cpu": round(api_cpu / seconds, 2),
        "postgres_cpu": round(pg_cpu / seconds, 2),
        "postgres_cpu_ms_per_1000": round(pg_cpu * 1000 / max(submits, 1) * 1000, 1),
    }


async def _load(
    cluster: Cluster, api: Replica, options: Options, clients: int, bearer: str
) -> tuple[float, float]:
    if shutil.which("wrk"):
        return wrk(
            cluster, api.host, api.port, clients, options.submit_seconds,
            company=COMPANY, bearer=bearer,
        )  # fmt: skip
    done = await in_process(
        loadgen.submit_load, api.host, api.port, bearer, COMPANY, clients,
        options.submit_seconds, options.submit_warmup,
    )  # fmt: skip
    return round(len(done["latencies"]) / done["seconds"], 1), latency_ms(done["latencies"])[
        "p99_ms"
    ]


def _postgres_cpu(cluster: Cluster) -> float:
    """CPU seconds of the whole server so far: the postmaster, the backends that ended (its
    children's times, once it has waited for them) and those still running."""
    pid = cluster.pg.running_pid()
    assert pid is not None
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    ended = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    running = 0.0
    for child in children:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # ended meanwhile
            running += cpu_seconds(int(child))
    return cpu_seconds(pid) + ended + running


class _Rollback(Exception):
    """Leaves a plan's transaction: what the statement wrote is not kept."""


async def _plans(table: Table, options: Options) -> dict[str, Any]:
    """Shared buffers each hot statement touched, and its time, under EXPLAIN (ANALYZE,
    BUFFERS) with a backlog in place; writes rolled back."""
    db, boundary = table.db, table.boundary
    await db.execute(BENCH_QUERIES["history_clear"], boundary)
    await _backlog(db, options)
    await db.execute(BENCH_QUERIES["history_vacuum"])
    await db.fetchval(QUERIES["rate_limit_wait"], *FLOW.limit_arrays())  # the slots
    queued = [
        row["id"] for row in await db.fetch(BENCH_QUERIES["history_queued_of"], COMPANY, BATCH)
    ]
    finished = await db.fetchval(BENCH_QUERIES["history_finished_of"], COMPANY)
    cutoff = await db.fetchval(QUERIES["prune_cutoff"], datetime.timedelta(days=30))
    n = len(queued)
    many = (
        [uuid.uuid4() for _ in range(n)], [COMPANY] * n, ["echo"] * n, [{"n": 1}] * n,
        [None] * n, [3] * n, [0] * n, *([[None] * n] * 5),
    )  # fmt: skip
    one = (uuid.uuid4(), COMPANY, "echo", {"n": 1}, None, 3, "plan-key", "hash", 0, *[None] * 5)
    statements: dict[str, tuple[str, tuple[Any, ...]]] = {
        "claim_jobs": (QUERIES["claim_jobs"], ("bench-plan", 30.0, BATCH, *PLAIN)),
        "claim_jobs_limited": (
            QUERIES["claim_jobs_limited"],
            ("bench-plan", 30.0, BATCH, None, [], 0, *FLOW.limit_arrays(), [], []),
        ),
        "rate_limit_wait": (QUERIES["rate_limit_wait"], FLOW.limit_arrays()),
        "insert_jobs": (QUERIES["insert_jobs"], many),
        "insert_job": (QUERIES["insert_job"], one),
        "find_by_idempotency_key": (QUERIES["find_by_idempotency_key"], (COMPANY, "history-3")),
        "queued_count": (QUERIES["queued_count"], (COMPANY, 1_000_000)),
        "get_job_snapshot": (QUERIES["get_job_snapshot"], (queued[0], COMPANY)),
        "events_after": (QUERIES["events_after"], (queued[0], 0)),
        "events_after (a finished job)": (QUERIES["events_after"], (finished, 0)),
        "events_after_many": (QUERIES["events_after_many"], (queued, [0] * n)),
        "cancel_job": (QUERIES["cancel_job"], (queued[0], COMPANY)),
        "next_run_at": (QUERIES["next_run_at"], ()),
        "reap_expired_leases": (QUERIES["reap_expired_leases"], (100,)),
        "queue_stats": (QUERIES["queue_stats"], ()),
        "job_overview": (QUERIES["job_overview"], (COMPANY,)),
        "lock_expired_jobs": (QUERIES["lock_expired_jobs"], (cutoff, 500)),
    }
    for label, where in (
        ("", (None, None, None)),
        (" ?status=failed", ("failed", None, None)),
        (" ?jobType=markdown.html", (None, "markdown.html", None)),
        (" ?sourceTaskId", (None, None, "task-1")),
    ):
        statements[f"list_jobs{label}"] = (
            QUERIES["list_jobs"], (COMPANY, *where, None, None, 51, None)
        )  # fmt: skip
    out = {name: await _explain(db, sql, args) for name, (sql, args) in statements.items()}
    # the run's own writes, on jobs this transaction claimed
    try:
        async with db.transaction():
            rows = await db.fetch(QUERIES["claim_jobs"], "bench-plan", 30.0, BATCH, *PLAIN)
            ids, tokens = [r["id"] for r in rows], [r["run_token"] for r in rows]
            k = len(ids)
            for name, sql, args in (
                ("set_progress", QUERIES["set_progress"], (ids, tokens, [50] * k, ["half"] * k)),
                ("renew_leases", QUERIES["renew_leases"], (ids, tokens, 30.0)),
                ("finish_jobs", QUERIES["finish_jobs"],
                 (ids, tokens, ["done"] * k, [{}] * k, [None] * k, [None] * k)),
            ):  # fmt: skip
                out[name] = await _explain(db, sql, args)
            raise _Rollback
    except _Rollback:
        pass
    await db.execute(BENCH_QUERIES["history_clear"], boundary)
    return out


async def _explain(db: asyncpg.Connection[Any], sql: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """One statement's buffers (shared, hit + read) and execution time, the median of three
    executions (each rolled back)."""
    runs: list[dict[str, Any]] = []
    for _ in range(3):
        try:
            async with db.transaction():
                raw = await db.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, *args)
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]
                top = plan["Plan"]
                runs.append({
                    "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
                    "ms": round(plan["Execution Time"], 2),
                    # the event and dependents triggers' share (their buffers are not counted)
                    "trigger_ms": round(sum(t["Time"] for t in plan.get("Triggers", [])), 2),
                })  # fmt: skip
                raise _Rollback
        except _Rollback:
            pass
    return median_runs(runs)


def _ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """History over empty for each figure: the median of the runs' ratios (each run's two
    measurements were taken back to back)."""
    ratios = {}
    for key in ("claim_jobs_per_s", "worker_jobs_per_s", "submit_rps", "submit_p99_ms"):
        pairs = [
            history[key] / empty[key]
            for empty, history in zip(runs["empty"], runs["history"], strict=True)
            if empty[key]
        ]
        ratios[key] = round(statistics.median(pairs), 2) if pairs else float("nan")
    return ratios


def _grown(plans: dict[str, dict[str, Any]]) -> list[str]:
    """The statements whose buffers grew past GROWTH times (and by 100 buffers) with history."""
    grown = []
    for name, figures in plans["history"].items():
        before = plans["empty"].get(name, {}).get("buffers", 0)
        after = figures.get("buffers", 0)
        if after > 100 + before and after > GROWTH * before:
            grown.append(name)
    return grown


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for phase, data in result["phases"].items():
        m = data["median"]
        label = phase
        if "history_jobs" in data:
            label += f", {fmt(data['history_jobs'])} jobs ({fmt(data['history_events'])} events)"
        out.append([
            "history", label,
            f"claim {fmt(m['claim_jobs_per_s'])} jobs/s ({fmt(m.get('claim_wal_kib_per_job'))}"
            f" KiB WAL a job); 1 worker {fmt(m['worker_jobs_per_s'])} jobs/s"
            f" ({fmt(m.get('worker_wal_kib_per_job'))} KiB WAL a job); submit ({result['tool']},"
            f" c={result['clients']}) {fmt(m['submit_rps'])} req/s, p99 {fmt(m['submit_p99_ms'])}"
            f" ms; Postgres {fmt(m['postgres_cpu_ms_per_1000'])} ms CPU per 1,000 submits",
            "",
        ])  # fmt: skip
    r = result["ratios"]
    out.append([
        "history", "history / empty",
        f"claim {fmt(r['claim_jobs_per_s'])}x, 1 worker {fmt(r['worker_jobs_per_s'])}x, submit"
        f" req/s {fmt(r['submit_rps'])}x, submit p99 {fmt(r['submit_p99_ms'])}x",
        "jobs/s >= 0.90x, p99 <= 1.10x",
    ])  # fmt: skip
    plans = result.get("plans", {})
    if "history" in plans:
        grown = ", ".join(
            f"{name} {fmt(plans['empty'][name]['buffers'])} -> "
            f"{fmt(plans['history'][name]['buffers'])}"
            for name in result["grown"]
        )
        out.append([
            "history", "buffers grown with history",
            grown or "none", "none on the hot path",
        ])  # fmt: skip
    return out
