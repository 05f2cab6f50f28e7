"""Operator routes: /healthz, /readyz following the database, /metrics moving as jobs run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from service.dev.pgserver import LocalPostgres, free_port
from service.metrics import TOP_COMPANIES
from tests.conftest import SECRET, Client, MakeClient, auth
from tests.processes import Replica

JOBS = "/api/companies/acme/content-jobs"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def test_readyz_follows_the_database(cluster: Any, own_postgres: LocalPostgres) -> None:
    """/readyz: 200 when Postgres answers; 503 with the reason while it is down; 200 again."""
    replica = await cluster("a", "api")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{replica.url}/readyz") as resp:
            assert resp.status == 200
        await asyncio.to_thread(own_postgres.stop)
        try:
            async with asyncio.timeout(15):
                while True:
                    async with session.get(f"{replica.url}/readyz") as resp:
                        if resp.status == 503:
                            body = await resp.json()
                            break
                    await asyncio.sleep(0.1)
            assert "database unavailable" in body["problems"]
            # the driver's error text (addresses, users) is logged, never told to callers
            assert not any("Errno" in p or "127.0.0.1" in p for p in body["problems"])
            async with session.get(f"{replica.url}/healthz") as resp:
                assert resp.status == 200  # alive, just not ready
        finally:
            await asyncio.to_thread(own_postgres.start)
        await replica.wait_ready(timeout=20)


async def test_metrics_port_serves_operators_only(
    own_postgres: LocalPostgres, tmp_path: Any
) -> None:
    """METRICS_PORT: /metrics and /readyz there and only there; the API is not there."""
    operators = free_port()
    env = {
        "DATABASE_URL": own_postgres.dsn,
        "AUTH_JWT_SECRET": SECRET,
        "METRICS_PORT": str(operators),
        "LOG_FORMAT": "json",
    }
    replica = Replica("m", "all", env, tmp_path)
    replica.start()
    try:
        async with asyncio.timeout(30), aiohttp.ClientSession() as session:
            ops = f"http://127.0.0.1:{operators}"
            while True:
                with contextlib.suppress(aiohttp.ClientConnectionError):
                    async with session.get(f"{ops}/readyz") as resp:
                        if resp.status == 200:
                            break
                await asyncio.sleep(0.1)
            for url, expected in (
                (f"{ops}/metrics", 200),
                (f"{ops}/healthz", 404),
                (f"{ops}/api/job-types", 404),
                (f"{replica.url}/metrics", 404),
                (f"{replica.url}/readyz", 404),
                (f"{replica.url}/healthz", 200),
            ):
                async with session.get(url) as resp:
                    assert resp.status == expected, url
    finally:
        replica.stop()


async def test_metrics_move_as_jobs_run(worker_client: Client) -> None:
    before = await (await worker_client.get("/metrics")).text()
    ids = []
    for _ in range(3):
        resp = await worker_client.post(JOBS, json={"jobType": "echo"}, headers=auth())
        ids.append(uuid.UUID((await resp.json())["jobId"]))
    resp = await worker_client.post(
        JOBS,
        json={"jobType": "sleep", "input": {"seconds": 0.05, "steps": 1, "failAtStep": 1}},
        headers=auth(),
    )
    async with asyncio.timeout(10):
        while True:
            text = await (await worker_client.get("/metrics")).text()
            if value(text, "content_jobs_jobs_finished_total", job_type="sleep", outcome="failed"):
                break
            await asyncio.sleep(0.05)
    assert value(before, "content_jobs_jobs_submitted_total", job_type="echo") == 0
    assert value(text, "content_jobs_jobs_submitted_total", job_type="echo") == 3
    assert value(text, "content_jobs_jobs_started_total", job_type="echo") == 3
    assert value(text, "content_jobs_jobs_finished_total", job_type="echo", outcome="done") == 3
    assert (
        value(text, "content_jobs_job_duration_seconds_count", job_type="echo", outcome="done") == 3
    )
    assert value(text, "content_jobs_queue_depth") == 0
    route = "/api/companies/{companyId}/content-jobs"
    assert (
        value(text, "content_jobs_http_requests_total", method="POST", route=route, status="202")
        == 4
    )
    assert (
        value(text, "content_jobs_http_request_duration_seconds_count", method="POST", route=route)
        == 4
    )
    assert value(text, "content_jobs_listener_reconnects_total") == 0


async def test_queue_gauges_name_the_busiest_companies_and_sum_the_rest(
    make_client: MakeClient,
) -> None:
    """With company labels on, bounded labels: the top companies by ready jobs by name, the
    others as `other`; delayed jobs counted apart; retries counted by type."""
    client = await make_client(metrics_company_labels=True)
    for n in range(TOP_COMPANIES + 3):
        company = f"c{n:02d}"
        for _ in range(1 if n >= TOP_COMPANIES else 2):
            await client.post(
                f"/api/companies/{company}/content-jobs", json={"jobType": "echo"},
                headers=auth(company),
            )  # fmt: skip
    await client.post(JOBS, json={"jobType": "echo", "delaySeconds": 600}, headers=auth())
    text = await (await client.get("/metrics")).text()
    named = {labels for (name, labels) in samples(text) if name == "content_jobs_queue_depth"}
    assert len(named) == TOP_COMPANIES + 1
    assert value(text, "content_jobs_queue_depth", company="other") == 3
    assert value(text, "content_jobs_queue_depth", company="c00") == 2
    assert value(text, "content_jobs_jobs_waiting_run_at") == 1


async def test_metrics_show_queue_and_streams(make_client: MakeClient) -> None:
    """Queue depth and age come from the table; open streams and channels from the listener."""
    client = await make_client(metrics_company_labels=True)
    resp = await client.post(JOBS, json={"jobType": "echo"}, headers=auth())
    job_id = (await resp.json())["jobId"]
    stream = await client.get(f"{JOBS}/{job_id}/events", headers=auth())
    await stream.content.readline()
    text = await (await client.get("/metrics")).text()
    assert value(text, "content_jobs_queue_depth", company="acme") == 1
    assert value(text, "content_jobs_oldest_ready_age_seconds", company="acme") > 0
    assert value(text, "content_jobs_sse_streams_open") == 1
    assert value(text, "content_jobs_listened_channels") == 1
    stream.close()
