"""Enqueue to start: from the 202 to the job running, with one idle worker replica waiting.

Jobs are submitted one at a time, a little apart, so the worker is idle
each time and must be woken (NOTIFY `content_jobs_queued` from the api
replica's notifier, heard by the worker's listener). Two figures per job:
the job's `started_at` minus the client's wall clock at the 202 (can be
negative: the worker may claim the job before the client has read its
response), and `started_at` minus `created_at` (both the database's clock).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bench import loadgen
from bench.cluster import COMPANY, QUERIES, Cluster, token
from bench.options import Options, in_process
from bench.stats import fmt, latency_ms, median_runs


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    api = await cluster.replica("api", pool_size=options.pool_size)
    await cluster.replica("worker", pool_size=options.pool_size)
    runs = []
    for _ in range(options.runs):
        await cluster.reset()
        seen = await in_process(
            loadgen.submit_paced, api.host, api.port, token(), COMPANY,
            options.start_jobs, options.start_gap,
        )  # fmt: skip
        await wait_finished(cluster)
        rows = await cluster.db().fetch(QUERIES["job_times"], [uuid.UUID(j) for j, _ in seen])
        times = {str(row["id"]): row for row in rows}
        from_202 = [times[job]["started"] - at for job, at in seen]
        from_created = [times[job]["started"] - times[job]["created"] for job, _ in seen]
        runs.append({
            **latency_ms(from_202),
            **{f"db_{k}": v for k, v in latency_ms(from_created).items()},
            "jobs": len(seen),
        })  # fmt: skip
    cluster.stop_replicas()
    return {"median": median_runs(runs), "runs": runs}


async def wait_finished(cluster: Cluster, timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while await cluster.db().fetchval(QUERIES["unfinished"]):
            await asyncio.sleep(0.1)


def rows(result: dict[str, Any]) -> list[list[str]]:
    m = result["median"]
    return [[
        "enqueue to start", "1 idle worker",
        f"202 -> running: p50 {fmt(m['p50_ms'])} / p99 {fmt(m['p99_ms'])} / max {fmt(m['max_ms'])}"
        f" ms (created -> running: p50 {fmt(m['db_p50_ms'])} / p99 {fmt(m['db_p99_ms'])} ms)",
        "p99 < 5 ms",
    ]]  # fmt: skip
