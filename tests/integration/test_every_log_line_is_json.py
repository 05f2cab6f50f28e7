"""Operators: with `LOG_FORMAT=json` every line a replica prints is one JSON object — its own
events and the standard library's logging of its dependencies (yoyo's migrations here) —
and `/metrics` has the process and GC collectors, with streams counted but not timed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp

from service.dev.pgserver import LocalPostgres
from tests.conftest import SECRET, Client, auth
from tests.integration.helpers import fresh_database, job_path, submit
from tests.processes import Replica


async def test_every_line_a_replica_prints_is_json(
    own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": await fresh_database(own_postgres.dsn, "json_logs"),
        "AUTH_JWT_SECRET": SECRET,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "debug",
    }
    replica = Replica("json", "all", env, tmp_path)
    replica.start(migrate=True)
    try:
        await replica.wait_ready()
        async with (
            aiohttp.ClientSession(headers=auth()) as session,
            session.post(
                f"{replica.url}/api/companies/acme/content-jobs", json={"jobType": "echo"}
            ) as resp,
        ):
            assert resp.status == 202
    finally:
        replica.stop()
    lines = [line for line in replica.log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on any line that is not JSON
    assert all(isinstance(record, dict) and "event" in record for record in records)
    loggers = {record.get("logger", "") for record in records}
    assert any(name.startswith("yoyo") for name in loggers), loggers
    assert any(record["event"] == "request" for record in records)


async def test_metrics_have_process_and_gc_and_do_not_time_whole_streams(client: Client) -> None:
    job_id = (await submit(client, {"jobType": "sleep", "input": {"seconds": 60}}))["jobId"]
    stream = await client.get(job_path(job_id) + "/events", headers=auth())
    await stream.content.readuntil(b"\r\n\r\n")
    stream.close()
    await asyncio.sleep(0.2)
    text = await (await client.get("/metrics")).text()
    assert "process_cpu_seconds_total" in text
    assert "python_gc_collections_total" in text
    events_route = 'route="/api/companies/{companyId}/content-jobs/{jobId}/events"'
    counted = [line for line in text.splitlines() if events_route in line]
    assert any(line.startswith("content_jobs_http_requests_total") for line in counted)
    assert not any(line.startswith("content_jobs_http_request_duration") for line in counted)
