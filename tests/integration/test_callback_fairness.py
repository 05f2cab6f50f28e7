"""API "Completion callbacks": one company's slow or failing receivers do not delay another
company's deliveries: a company (and a host) gets a bounded share of the senders, and a
host that keeps timing out has its deliveries postponed (circuit breaker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from service.db.queries import QUERIES
from service.worker import callbacks
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import Receiver, jobs_path
from tests.integration.test_completion_callbacks_are_signed_and_retried import HOOK_SECRET

pytestmark = pytest.mark.timeout(60)


class Silent:
    """A receiver on 127.0.0.2 that accepts requests and never answers them."""

    def __init__(self) -> None:
        self.received = 0
        self.open = 0
        self.most_open = 0
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        self.received += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        self.arrived.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.open -= 1
        raise AssertionError("unreachable")

    async def requests(self, count: int) -> None:
        async with asyncio.timeout(30):
            while self.received < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def silent() -> AsyncIterator[Silent]:
    silent = Silent()
    app = web.Application()
    app.router.add_post("/hook", silent.hook)
    silent.runner = web.AppRunner(app, shutdown_timeout=0.1)
    await silent.runner.setup()
    await web.TCPSite(silent.runner, "127.0.0.2", 0).start()
    silent.url = f"http://127.0.0.2:{silent.runner.addresses[0][1]}/hook"
    yield silent
    await silent.runner.cleanup()


@pytest.fixture
async def hooked(make_client: MakeClient) -> Client:
    return await make_client(
        role="all", webhook_allowed_hosts=("127.0.0.1", "127.0.0.2"), webhook_secret=HOOK_SECRET
    )


async def submit_many(client: Client, company: str, url: str, count: int) -> None:
    jobs = [{"jobType": "echo", "callbackUrl": url} for _ in range(count)]
    resp = await client.post(
        jobs_path(company) + ":batch", json={"jobs": jobs}, headers=auth(company)
    )
    assert resp.status == 200, await resp.text()


async def test_a_receiver_that_never_answers_does_not_delay_another_company(
    hooked: Client, silent: Silent, receiver: Receiver
) -> None:
    await submit_many(hooked, "slow", silent.url, 40)
    await silent.requests(callbacks.PER_COMPANY)  # its share of the senders is tied up now
    started = time.monotonic()
    await submit_many(hooked, "acme", receiver.url, 1)
    await receiver.deliveries(1, timeout=20)
    # the job's run included (well under a second when idle); it was 10 s and more when a
    # batch of deliveries waited for its slowest
    assert time.monotonic() - started < 4
    assert silent.most_open <= callbacks.PER_COMPANY


async def test_a_host_that_keeps_timing_out_is_left_alone_for_a_cool_down(
    make_client: MakeClient, silent: Silent, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callbacks, "REQUEST_TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(callbacks, "BREAKER_FAILURES", 3)
    hooked = await make_client(
        role="all", webhook_allowed_hosts=("127.0.0.2",), webhook_secret=HOOK_SECRET
    )
    await submit_many(hooked, "acme", silent.url, 20)
    async with asyncio.timeout(20):
        while not await db.fetchval(
            "SELECT open_until > now() + interval '50 seconds' FROM content_job_callback_hosts"
            " WHERE host = '127.0.0.2'"
        ):
            await asyncio.sleep(0.05)
    await hooked.close()  # no sender now: what would be claimed next is what the claim says
    # the failures that opened it, those in flight meanwhile (and, on a loaded machine, a
    # retry of those); the rest were not sent
    most_sent = callbacks.BREAKER_FAILURES + 2 * callbacks.PER_COMPANY
    assert silent.received <= most_sent
    unsent = await db.fetchval(
        "SELECT count(*) FROM content_job_callbacks WHERE attempts = 0 AND locked_until IS NULL"
    )
    assert unsent >= 20 - most_sent
    claimed = await db.fetch(
        QUERIES["claim_callbacks"], 100, 15.0, callbacks.PER_COMPANY, callbacks.PER_HOST, 86400.0
    )
    assert claimed == []
