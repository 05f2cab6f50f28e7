"""Small helpers shared by the job API's integration tests."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestServer

from tests.conftest import Client, auth, with_database


def jobs_path(company: str = "acme") -> str:
    return f"/api/companies/{company}/content-jobs"


def job_path(job_id: object, company: str = "acme") -> str:
    return f"{jobs_path(company)}/{job_id}"


async def submit(
    client: Client,
    body: Any = None,
    *,
    company: str = "acme",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Submit a job that must be accepted; returns the 202 body."""
    resp = await client.post(
        jobs_path(company),
        json={"jobType": "echo"} if body is None else body,
        headers=headers or auth(company),
    )
    assert resp.status == 202, await resp.text()
    data: dict[str, Any] = await resp.json()
    return data


async def error_of(resp: ClientResponse) -> str:
    """The `error` message of a JSON error body (and the check that it is one)."""
    assert resp.content_type == "application/json", await resp.text()
    body = await resp.json()
    assert set(body) >= {"error"}
    message: str = body["error"]
    return message


_NEXT = re.compile(r'^<([^>]+)>; rel="next"$')


def next_link(resp: ClientResponse) -> str | None:
    """The target of `Link: <...>; rel="next"`, or None when the header is absent."""
    link = resp.headers.get("Link")
    if link is None:
        return None
    match = _NEXT.match(link)
    assert match, link
    return match.group(1)


async def insert_job(
    db: asyncpg.Connection[Any],
    *,
    company: str = "acme",
    job_type: str = "echo",
    status: str = "queued",
    created_at: datetime | None = None,
    source_task_id: str | None = None,
) -> uuid.UUID:
    """A job row written behind the API: ties in created_at, states no runner produced."""
    job_id = uuid.uuid4()
    terminal = status in ("done", "failed", "cancelled")
    await db.execute(
        """
        INSERT INTO content_jobs
            (id, company_id, job_type, status, source_task_id, max_attempts,
             created_at, finished_at, worker_id, lease_expires_at)
        VALUES ($1, $2, $3, $4, $5, 3, coalesce($6, clock_timestamp()),
                CASE WHEN $7 THEN clock_timestamp() END,
                CASE WHEN $4 = 'running' THEN 'test-worker' END,
                CASE WHEN $4 = 'running' THEN now() + interval '1 hour' END)
        """,
        job_id,
        company,
        job_type,
        status,
        source_task_id,
        created_at,
        terminal,
    )
    return job_id


async def wait_for_notification(db: asyncpg.Connection[Any], channel: str) -> asyncio.Future[str]:
    """LISTEN on `channel`; the future resolves with the first payload that arrives."""
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_notify(conn: object, pid: int, channel: str, payload: object) -> None:
        if not future.done():
            future.set_result(str(payload))

    await db.add_listener(channel, on_notify)
    return future


async def fresh_database(admin_dsn: str, name: str) -> str:
    """An empty database `name` (dropped first if a previous run left it); its DSN."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


class Receiver:
    """An HTTP server that records every delivery and answers what it is told to."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []  # statuses for the next requests; then 200
        self.hang_first = False
        self.arrived = asyncio.Event()
        self.server: TestServer | None = None
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        self.arrived.set()
        if self.hang_first and len(self.received) == 1:
            await asyncio.sleep(60)
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = TestServer(app, host="127.0.0.1", shutdown_timeout=0.5)
        await self.server.start_server()
        self.url = str(self.server.make_url("/hook"))

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def deliveries(self, count: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
