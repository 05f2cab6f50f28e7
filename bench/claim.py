"""Claim: what fair share costs. The fair claim (sql/queries.sql `claim_jobs`) against the
FIFO claim it replaced (`claim_jobs_fifo` in bench/queries.sql: oldest first, one company's
backlog blocks everyone), on the same backlog in the same run: claims of 16 jobs, each batch
marked done at once (no handler, no HTTP: the statement alone), from a backlog of queued
jobs spread over 1 and over 50 companies.
"""

from __future__ import annotations

import time
from typing import Any

from bench.cluster import QUERIES as BENCH_QUERIES
from bench.cluster import Cluster
from bench.options import Options
from bench.stats import fmt
from service.db.queries import QUERIES

BATCH = 16


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for companies in options.claim_companies:
        for name, sql in (
            ("fair", QUERIES["claim_jobs"]),
            ("fifo", BENCH_QUERIES["claim_jobs_fifo"]),
        ):
            cases[f"{name}, {companies} compan{'ies' if companies > 1 else 'y'}"] = await _claims(
                cluster, sql, options.claim_backlog, companies, options.claim_jobs
            )
    fair = cases[f"fair, {options.claim_companies[0]} company"]["jobs_per_s"]
    fifo = cases[f"fifo, {options.claim_companies[0]} company"]["jobs_per_s"]
    return {"cases": cases, "fair_over_fifo": round(fair / fifo, 2)}


async def _claims(
    cluster: Cluster, sql: str, backlog: int, companies: int, jobs: int
) -> dict[str, Any]:
    await cluster.reset()
    db = cluster.db()
    await db.execute(BENCH_QUERIES["insert_spread"], backlog, companies)
    await db.execute("VACUUM ANALYZE content_jobs")
    claimed = 0
    started = time.perf_counter()
    while claimed < jobs:
        rows = await db.fetch(sql, "bench-claim", 30.0, BATCH, None, [], 0)
        if not rows:
            break
        claimed += len(rows)
        await db.execute(BENCH_QUERIES["finish_claimed"], [row["id"] for row in rows])
    seconds = time.perf_counter() - started
    return {
        "jobs": claimed,
        "seconds": round(seconds, 3),
        "jobs_per_s": round(claimed / seconds, 1),
    }


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = [
        [
            "claim",
            case,
            f"{fmt(data['jobs_per_s'])} jobs/s",
            ">= 1,500 jobs/s" if "fair" in case else "",
        ]
        for case, data in result["cases"].items()
    ]
    out.append(["claim", "fair / fifo (1 company)", f"{result['fair_over_fifo']:.2f}x", ""])
    return out
