"""Smoke runs of the benchmarks (`bench/`): every workload once, tiny, in seconds.

They check that the harness still drives the service end to end and that its
correctness figures hold (no failed request, no lost event, connections
within the pool plus one listener); they measure no speed. Deselect them with
`-m "not bench_smoke"`.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from bench import fanout, history, start, submit, throughput
from bench.cluster import Cluster
from bench.options import Options

pytestmark = [pytest.mark.bench_smoke, pytest.mark.timeout(120)]

SMOKE = Options.smoke()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    cluster = Cluster()
    await cluster.start()
    yield cluster
    await cluster.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_submit_answers_every_request(cluster: Cluster) -> None:
    if shutil.which("pgbench") is None:
        pytest.skip("pgbench is not installed (Debian: postgresql-client)")
    result = await submit.run(cluster, SMOKE)
    figures = result["cases"]["c=4"]["median"]
    assert figures["errors"] == 0
    assert figures["requests_per_s"] > 0 and figures["insert_tps"] > 0
    assert figures["fraction_of_insert"] > 0
    assert figures["naive_errors"] == 0 and figures["over_naive"] > 0
    backlog = result["cases"]["backlog"]["median"]
    assert backlog["backlog_queued"] >= SMOKE.submit_backlog and backlog["empty_rps"] > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_enqueue_to_start_measures_every_job(cluster: Cluster) -> None:
    result = await start.run(cluster, SMOKE)
    assert result["median"]["jobs"] == SMOKE.start_jobs
    assert result["median"]["p99_ms"] < 5000


@pytest.mark.asyncio(loop_scope="module")
async def test_fanout_delivers_every_event_within_the_pool(cluster: Cluster) -> None:
    result: dict[str, Any] = await fanout.run(cluster, SMOKE)
    figures = result["cases"]["40 streams"]["median"]
    assert figures["streams_open"] == 40 and figures["streams_failed"] == 0
    assert figures["events_missing"] == 0 and figures["events_delivered"] > 0
    assert figures["listener_connections_max"] == 1
    assert figures["pool_connections_max"] <= SMOKE.pool_size


@pytest.mark.asyncio(loop_scope="module")
async def test_throughput_runs_ours_and_the_peer(cluster: Cluster) -> None:
    pytest.importorskip("procrastinate", reason="the bench extra is not installed")
    result = await throughput.run(cluster, SMOKE)
    assert result["cases"]["1 worker"]["median"]["jobs"] == SMOKE.throughput_jobs
    assert result["cases"]["procrastinate"]["median"]["jobs"] == SMOKE.throughput_jobs
    assert result["ours_over_procrastinate"] > 0


@pytest.mark.asyncio(loop_scope="module")
async def test_history_measures_the_empty_and_the_full_table(cluster: Cluster) -> None:
    result = await history.run(cluster, SMOKE)
    phases = result["phases"]
    assert list(phases) == list(history.PHASES)
    assert phases["history"]["history_jobs"] == SMOKE.history_jobs
    assert phases["history"]["history_events"] == 3 * SMOKE.history_jobs
    for phase in phases.values():
        figures = phase["median"]
        assert figures["claim_jobs_per_s"] > 0 and figures["worker_jobs_per_s"] > 0
        assert figures["submit_rps"] > 0 and figures["postgres_cpu_ms_per_1000"] > 0
    assert set(result["ratios"]) == {
        "claim_jobs_per_s", "worker_jobs_per_s", "submit_rps", "submit_p99_ms"
    }  # fmt: skip
    for plans in result["plans"].values():
        assert plans["claim_jobs"]["buffers"] > 0 and plans["finish_jobs"]["ms"] > 0
