"""The sizes of every workload: the full benchmark, and a smoke run that takes seconds."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

PROFILES = Path(__file__).resolve().parent / "results" / "profiles"


@dataclasses.dataclass(frozen=True)
class Options:
    #: each figure is the median over this many runs
    runs: int = 3
    #: submit: seconds measured per run (after a one-second warm-up) and client counts
    submit_seconds: float = 8.0
    submit_warmup: float = 1.0
    submit_concurrency: tuple[int, ...] = (1, 16, 64)
    #: submit with a backlog: queued jobs of one company (beside one with none)
    submit_backlog: int = 100_000
    #: batch submit: jobs per `:batch` request, and clients sending them
    batch_size: int = 1000
    batch_concurrency: int = 4
    #: enqueue to start: jobs submitted one at a time per run, and the pause between them
    start_jobs: int = 200
    start_gap: float = 0.03
    #: fan-out: open streams per case (one job per 10), and how long each job runs
    fanout_streams: tuple[int, ...] = (1000, 5000, 10000)
    fanout_job_seconds: float = 10.0
    #: the same through nginx over two api replicas
    fanout_nginx_streams: tuple[int, ...] = (20000,)
    #: throughput and peer: jobs per run, and jobs run at once per worker (both systems: the
    #: service's default RUNNER_CONCURRENCY)
    throughput_jobs: int = 10000
    throughput_workers: tuple[int, ...] = (1, 2)
    concurrency: int = 100
    #: claim: queued jobs in the backlog, jobs claimed per case, companies they belong to
    claim_backlog: int = 100_000
    claim_jobs: int = 20_000
    claim_companies: tuple[int, ...] = (1, 50)
    #: prune: finished jobs of one day, and events per job (250,000 x 4: a million events)
    prune_jobs: int = 250_000
    prune_events_per_job: int = 4
    #: history: finished jobs beside the measurements, over how many companies and days; the
    #: queued backlog (over the same companies) and how many of it the claim case claims
    history_jobs: int = 1_000_000
    history_companies: int = 50
    history_days: int = 7
    history_backlog: int = 20_000
    history_claimed: int = 10_000
    #: the service's DB_POOL_SIZE in every replica
    pool_size: int = 10
    #: sample the busiest replica of each workload with py-spy into PROFILES (see bench/profile.py)
    profile: bool = False

    @classmethod
    def smoke(cls) -> Options:
        """Every code path once, tiny: for tests/test_bench_smoke.py and `make bench-smoke`."""
        return cls(
            runs=1,
            submit_seconds=0.5,
            submit_warmup=0.2,
            submit_concurrency=(4,),
            submit_backlog=500,
            batch_size=20,
            batch_concurrency=2,
            start_jobs=10,
            start_gap=0.02,
            fanout_streams=(40,),
            fanout_job_seconds=1.0,
            fanout_nginx_streams=(40,),
            throughput_jobs=200,
            throughput_workers=(1,),
            claim_backlog=500,
            claim_jobs=200,
            prune_jobs=250,
            history_jobs=3000,
            history_companies=5,
            history_backlog=300,
            history_claimed=160,
            concurrency=8,
            pool_size=4,
        )


async def in_process(function: Callable[..., T], *args: Any) -> T:
    """Run a load generator in a fresh process of its own: it never shares the server's cores'
    event loop, nor the benchmark's."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
