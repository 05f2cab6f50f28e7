"""API "Completion callbacks": what a delivery refuses to do, checked at delivery time as well
as at submit: connect to a name that now resolves to a forbidden address (its connector
resolves through the checking resolver), reach a host the sending worker's allow-list no
longer names, follow a redirect, or go on past 24 hours. And an IPv6 literal listed as
`[::1]` is accepted."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import Receiver, job_path, jobs_path
from tests.integration.test_completion_callbacks_are_signed_and_retried import HOOK_SECRET

pytestmark = pytest.mark.timeout(60)
REBOUND = "hooks.rebind.test"


async def submit(client: Client, url: str) -> str:
    resp = await client.post(
        jobs_path(), json={"jobType": "echo", "callbackUrl": url}, headers=auth()
    )
    assert resp.status == 202, await resp.text()
    job_id: str = (await resp.json())["jobId"]
    return job_id


async def first_attempt(db: Any, job_id: str) -> Any:
    async with asyncio.timeout(20):
        while True:
            row = await db.fetchrow(
                "SELECT c.state, c.attempts, c.last_status, c.last_error"
                " FROM content_job_callbacks c WHERE c.job_id = $1::uuid"
                " AND (c.attempts > 0 OR c.state <> 'pending')",
                job_id,
            )
            if row is not None:
                return row
            await asyncio.sleep(0.05)


async def test_a_name_resolving_to_a_forbidden_address_at_delivery_is_refused(
    make_client: MakeClient, receiver: Receiver, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: public at submit, loopback when the worker connects."""
    loop = asyncio.get_running_loop()
    system_getaddrinfo = loop.getaddrinfo
    answer = {"address": "93.184.216.34"}

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == REBOUND:
            sockaddr = (answer["address"], int(port or 0))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", sockaddr)]
        return await system_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    hosts = ("*.rebind.test",)
    api = await make_client(webhook_allowed_hosts=hosts, webhook_secret=HOOK_SECRET)
    port = receiver.url.split(":")[2].split("/")[0]
    job_id = await submit(api, f"http://{REBOUND}:{port}/hook")
    answer["address"] = "127.0.0.1"
    await make_client(role="all", webhook_allowed_hosts=hosts, webhook_secret=HOOK_SECRET)
    row = await first_attempt(db, job_id)
    assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, None)
    assert "private or special address" in row["last_error"]
    assert receiver.received == []


async def test_the_sending_workers_allow_list_is_checked_again(
    make_client: MakeClient, receiver: Receiver, db: Any
) -> None:
    api = await make_client(webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET)
    job_id = await submit(api, receiver.url)
    await make_client(
        role="all", webhook_allowed_hosts=("hooks.example.com",), webhook_secret=HOOK_SECRET
    )
    row = await first_attempt(db, job_id)
    assert row["last_status"] is None
    assert "not in WEBHOOK_ALLOWED_HOSTS" in row["last_error"]
    assert receiver.received == []


async def test_a_redirect_is_not_followed(make_client: MakeClient, db: Any) -> None:
    moved: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/moved")

    async def target(request: web.Request) -> web.Response:
        moved.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/moved", target)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        hooked = await make_client(
            role="all", webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET
        )
        job_id = await submit(hooked, f"http://127.0.0.1:{runner.addresses[0][1]}/hook")
        row = await first_attempt(db, job_id)
        assert (row["state"], row["attempts"], row["last_status"]) == ("pending", 1, 307)
        assert moved == []
    finally:
        await runner.cleanup()


async def test_a_delivery_older_than_24h_ends_failed_without_being_sent(
    make_client: MakeClient, receiver: Receiver, db: Any
) -> None:
    api = await make_client(webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET)
    resp = await api.post(
        jobs_path(),
        json={"jobType": "echo", "delaySeconds": 3600, "callbackUrl": receiver.url},
        headers=auth(),
    )
    job_id = (await resp.json())["jobId"]
    assert (await api.post(job_path(job_id) + "/cancel", headers=auth())).status == 200
    await db.execute(
        "UPDATE content_job_callbacks SET created_at = now() - interval '24 hours 1 minute'"
    )
    await make_client(role="all", webhook_allowed_hosts=("127.0.0.1",), webhook_secret=HOOK_SECRET)
    row = await first_attempt(db, job_id)
    assert (row["state"], row["attempts"], row["last_status"]) == ("failed", 0, None)
    assert "24 h" in row["last_error"]
    assert receiver.received == []
    assert await db.fetchval("SELECT count(*) FROM content_job_callback_attempts") == 0


async def test_an_ipv6_literal_listed_in_brackets_is_delivered(make_client: MakeClient) -> None:
    arrived = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        arrived.set()
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "::1", 0).start()
    try:
        hooked = await make_client(
            role="all", webhook_allowed_hosts=("[::1]",), webhook_secret=HOOK_SECRET
        )
        await submit(hooked, f"http://[::1]:{runner.addresses[0][1]}/hook")
        async with asyncio.timeout(20):
            await arrived.wait()
    finally:
        await runner.cleanup()
