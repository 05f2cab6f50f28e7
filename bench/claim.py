"""Claim: what fair share and flow control cost. The fair claim (sql/queries.sql
`claim_jobs`) against the FIFO claim it replaced (`claim_jobs_fifo` in bench/queries.sql:
oldest first, one company's backlog blocks everyone) and against the fair claim of the
2026-11-28 run of record (`claim_jobs_2026_11_28`, before run tokens, pipelines and flow
control: issue 23 asks for today's claim within 20 % of it), on the same backlog in the same
run: claims of 16 jobs, each batch marked done at once (no handler, no HTTP: the statement
alone), from a backlog of queued jobs spread over 1 and over 50 companies. "+ weights" gives
`company-0` weight 3 (the others 1); "+ rate limit" is `claim_jobs_limited` with a limit on
the backlog's type (`echo=10000/1s`, high enough not to hold the claims back: what is
measured is its bookkeeping, a slot locked and marked per job) and the weights.
"""

from __future__ import annotations

import time
from typing import Any

from bench.cluster import QUERIES as BENCH_QUERIES
from bench.cluster import Cluster
from bench.options import Options
from bench.stats import fmt
from service.db.queries import QUERIES
from service.domain.flow import FlowControl, parse_rate_limits, parse_weights

BATCH = 16
#: the claim's arguments after the batch: no company cap, no CPU-bound type, and flow control
PLAIN: tuple[Any, ...] = (None, [], 0, [], [])
FLOW = FlowControl.of(parse_rate_limits("echo=10000/1s"), (), parse_weights("company-0=3"))
WEIGHTED: tuple[Any, ...] = (None, [], 0, *FLOW.weight_arrays())
LIMITED: tuple[Any, ...] = (None, [], 0, *FLOW.limit_arrays(), *FLOW.weight_arrays())
#: the FIFO claim ignores the fair claim's arguments; the claim of 11-28 had only the cap
FIFO: tuple[Any, ...] = PLAIN
BEFORE: tuple[Any, ...] = (None,)


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    cases: dict[str, Any] = {}
    for companies in options.claim_companies:
        for name, sql, args in (
            ("fair", QUERIES["claim_jobs"], PLAIN),
            ("fair + weights", QUERIES["claim_jobs"], WEIGHTED),
            ("fair + rate limit + weights", QUERIES["claim_jobs_limited"], LIMITED),
            ("fair of 11-28", BENCH_QUERIES["claim_jobs_2026_11_28"], BEFORE),
            ("fifo", BENCH_QUERIES["claim_jobs_fifo"], FIFO),
        ):
            cases[f"{name}, {companies} compan{'ies' if companies > 1 else 'y'}"] = await _claims(
                cluster, sql, args, options.claim_backlog, companies, options.claim_jobs
            )
    ratios: dict[str, float] = {}
    for companies in options.claim_companies:
        label = f"{companies} compan{'ies' if companies > 1 else 'y'}"
        before = cases[f"fair of 11-28, {label}"]["jobs_per_s"]
        for name in ("fair", "fair + weights", "fair + rate limit + weights"):
            ratios[f"{name} / fair of 11-28, {label}"] = round(
                cases[f"{name}, {label}"]["jobs_per_s"] / before, 2
            )
    fair = cases[f"fair, {options.claim_companies[0]} company"]["jobs_per_s"]
    fifo = cases[f"fifo, {options.claim_companies[0]} company"]["jobs_per_s"]
    return {"cases": cases, "fair_over_fifo": round(fair / fifo, 2), "ratios": ratios}


async def _claims(
    cluster: Cluster, sql: str, args: tuple[Any, ...], backlog: int, companies: int, jobs: int
) -> dict[str, Any]:
    await cluster.reset()
    db = cluster.db()
    await db.execute(BENCH_QUERIES["insert_spread"], backlog, companies)
    await db.execute("VACUUM ANALYZE content_jobs")
    if args is LIMITED:  # the limit's slots, as a worker's idle query creates them
        await db.fetchval(QUERIES["rate_limit_wait"], *FLOW.limit_arrays())
    claimed = 0
    started = time.perf_counter()
    while claimed < jobs:
        rows = await db.fetch(sql, "bench-claim", 30.0, BATCH, *args)
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
    for name, ratio in result.get("ratios", {}).items():
        out.append(["claim", name, f"{ratio:.2f}x", ">= 0.83x (within 20 %)"])
    return out
