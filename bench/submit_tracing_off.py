"""What the submit path costs with tracing off: N submits through aiohttp's test client
against a throwaway Postgres, from the checkout in the working directory, as one line of
JSON. Run it from two checkouts (before and after a change), alternating, on one machine:

    .venv/bin/python -m bench.submit_tracing_off --submits 2000

Tracing is off as it is in production without `OTEL_EXPORTER_OTLP_ENDPOINT` (the variable
is removed from this process's environment first). Submits go `CONCURRENCY` at a time, as a
service's callers would send them; the first `WARMUP` are not timed. Logs are on, as JSON
lines at `info` as in production (every request's line, the log processors included): send
stderr to /dev/null.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from service.api.auth import issue_token
from service.app import create_app
from service.db import migrations
from service.dev.pgserver import LocalPostgres
from service.logging import configure
from service.settings import Settings

SECRET = "bench-secret-that-is-long-enough-for-hs256"
CONCURRENCY = 8
WARMUP = 200


async def submits(
    client: TestClient[web.Request, web.Application], count: int, headers: dict[str, str]
) -> list[float]:
    """Each submit's seconds, `CONCURRENCY` in flight at a time."""
    path = "/api/companies/acme/content-jobs"
    body = {"jobType": "echo", "input": {"n": 1}}
    seconds: list[float] = []
    left = iter(range(count))

    async def one_at_a_time() -> None:
        for _ in left:
            started = time.perf_counter()
            async with client.post(path, json=body, headers=headers) as resp:
                assert resp.status == 202, await resp.text()
            seconds.append(time.perf_counter() - started)

    await asyncio.gather(*(one_at_a_time() for _ in range(CONCURRENCY)))
    return seconds


async def run(dsn: str, count: int) -> dict[str, float]:
    settings = Settings.from_env({"DATABASE_URL": dsn, "AUTH_JWT_SECRET": SECRET}, role="api")
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    headers = {"Authorization": f"Bearer {issue_token(SECRET, ('acme',), sub='bench')}"}
    try:
        await submits(client, WARMUP, headers)
        started, cpu_started = time.perf_counter(), time.process_time()
        seconds = await submits(client, count, headers)
        total = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await client.close()
    return {
        "submits": count,
        "seconds": round(total, 3),
        "per_second": round(count / total, 1),
        "median_ms": round(statistics.median(seconds) * 1000, 3),
        "p99_ms": round(statistics.quantiles(seconds, n=100)[98] * 1000, 3),
        # this process's CPU (the service and its client; Postgres is another process): on a
        # shared machine, steadier than the clock
        "cpu_ms_per_submit": round(cpu / count * 1000, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submits", type=int, default=2000)
    args = parser.parse_args()
    os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    configure("json", "info")
    server = LocalPostgres.temporary()
    server.start()
    try:
        migrations.apply(server.dsn)
        print(json.dumps(asyncio.run(run(server.dsn, args.submits))))
    finally:
        server.remove()


if __name__ == "__main__":
    main()
