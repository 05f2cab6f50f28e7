"""Completion callbacks: the loop that workers run to send them (which URLs are allowed:
`service.webhooks.hosts`; signing: `service.webhooks.signing`; the companies' secrets:
`service.webhooks.secrets`).

Deliveries live in Postgres (a trigger writes one when a job with `callback_url` ends, in
the same transaction), so they survive restarts; a worker holds a due delivery for
`HOLD_SECONDS` while it sends it, so one killed mid-send is picked up by another.

Every delivery is checked again against the sending worker's allow-list, and connects
through `CheckedResolver`, so an address refused at submit cannot be reached later by
re-resolving. Redirects are not followed.

Receivers cannot hold every sender: a worker sends up to `SENDERS` deliveries at once, each
on its own, and the claim gives a company at most `PER_COMPANY` and a host at most
`PER_HOST` of those in flight across all workers; a host that leaves `BREAKER_FAILURES`
attempts in a row unanswered is left alone for `BREAKER_COOL_DOWN_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from typing import Any

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from service import __version__
from service.db.pool import DB_ERRORS
from service.db.queries import QUERIES
from service.domain.codec import dumps
from service.domain.jobs import Job
from service.metrics import Metrics
from service.tracing import NO_TRACING, Tracing
from service.webhooks.hosts import CheckedResolver, HostNotAllowed, HostPolicy, check_at_delivery
from service.webhooks.secrets import SecretUnreadable, WebhookSecrets
from service.webhooks.signing import signed_headers

log = structlog.get_logger(__name__)

#: a delivery is tried for this long after the job ended, then given up
GIVE_UP_SECONDS = 24 * 3600
#: an attempt with no answer within this is a failure
REQUEST_TIMEOUT_SECONDS = 10.0
#: how long a worker holds a delivery it is sending (more than one request's timeout)
HOLD_SECONDS = 15.0
#: the first retry within this, then doubling, capped at MAX_BACKOFF_SECONDS
FIRST_RETRY_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0
#: how often an idle sender looks for due deliveries (it is also woken when a job ends here)
POLL_SECONDS = 1.0
#: deliveries one worker sends at once
SENDERS = 16
#: deliveries in flight at once, across all workers, for one company and for one host
PER_COMPANY = 4
PER_HOST = 8
#: unanswered attempts in a row (timeouts, refused or reset connections) that open a host's
#: circuit breaker, and how long its deliveries then wait (each further failure renews it)
BREAKER_FAILURES = 5
BREAKER_COOL_DOWN_SECONDS = 60.0
EVENT_HEADER = "X-Content-Jobs-Event"


def backoff(failed_attempts: int) -> float:
    """The wait after `failed_attempts` failures: 5 s, 10 s, 20 s ... capped at 10 minutes,
    each between half and all of that (jitter)."""
    ceiling = min(MAX_BACKOFF_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** (failed_attempts - 1))
    return ceiling * (0.5 + random.random() / 2)


class CallbackSender:
    """The workers' delivery loop: claims due deliveries while it has free senders, and sends
    each on its own, so a slow receiver holds one sender, not a batch."""

    def __init__(
        self,
        db: asyncpg.Pool[Any],
        secrets: WebhookSecrets,
        policy: HostPolicy,
        metrics: Metrics,
        tracing: Tracing = NO_TRACING,
    ) -> None:
        self._db = db
        self._tracing = tracing
        self._secrets = secrets
        self._policy = policy
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """A job ended here, or a sender came free: a delivery may be due now."""
        self._wake.set()

    def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self._policy), limit=SENDERS)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
            headers={"User-Agent": f"content-jobs/{__version__}"},
        )
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def close(self) -> None:
        """Stops sending; deliveries cut short are held until their hold runs out, then sent
        by whichever worker claims them."""
        for task in [self._task, *self._sending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            free = SENDERS - len(self._sending)
            claimed = 0
            if free > 0:
                try:
                    rows = await self._claim(free)
                except DB_ERRORS as exc:
                    log.warning("callbacks_failed", error=str(exc))
                    rows = []
                claimed = len(rows)
                for row in rows:
                    task = asyncio.create_task(self._deliver(row), name="callback")
                    self._sending.add(task)
                    task.add_done_callback(self._sent)
            if claimed == 0 or claimed < free:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._wake.wait()
                self._wake.clear()

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self.wake()

    async def _claim(self, limit: int) -> list[asyncpg.Record]:
        async with self._db.acquire() as conn, conn.transaction():
            await conn.execute(QUERIES["lock_callback_claims"])
            rows: list[asyncpg.Record] = await conn.fetch(
                QUERIES["claim_callbacks"],
                limit,
                HOLD_SECONDS,
                PER_COMPANY,
                PER_HOST,
                float(GIVE_UP_SECONDS),
            )
            return rows

    async def _deliver(self, row: asyncpg.Record) -> None:
        """One attempt, or the end of a delivery past its 24 hours (not sent again)."""
        delivery_id: uuid.UUID = row["delivery_id"]
        status: int | None = None
        error: str | None
        answered: bool | None
        attempt: int | None
        if row["age_seconds"] >= GIVE_UP_SECONDS:
            attempt, error, answered = None, "given up: not delivered within 24 h", None
        else:
            attempt = row["delivery_attempts"] + 1
            status, error, answered = await self._attempt(row, attempt)
        delivered = status is not None and 200 <= status < 300
        retry_in = None if delivered or attempt is None else backoff(attempt)
        if retry_in is not None and row["age_seconds"] + retry_in >= GIVE_UP_SECONDS:
            retry_in = None
        outcome = "delivered" if delivered else "failed" if retry_in is None else "retry"
        self._metrics.callback_deliveries.labels(outcome).inc()
        log.info("callback_attempt", delivery=str(delivery_id), status=status, error=error,
                 outcome=outcome, attempt=attempt)  # fmt: skip
        try:
            await self._db.execute(
                QUERIES["record_callback_attempt"],
                delivery_id, attempt, status, error, delivered, retry_in,
            )  # fmt: skip
            if answered is not None:
                await self._db.execute(
                    QUERIES["record_callback_host"],
                    row["host"], answered, BREAKER_FAILURES, BREAKER_COOL_DOWN_SECONDS,
                )  # fmt: skip
        except DB_ERRORS as exc:  # its hold runs out and it is tried again
            log.warning("callback_record_failed", delivery=str(delivery_id), error=str(exc))

    async def _attempt(
        self, row: asyncpg.Record, attempt: int
    ) -> tuple[int | None, str | None, bool | None]:
        """`_post` in a span of the job's trace (tracing on), whose traceparent it sends."""
        with self._tracing.span(
            "callback",
            parent=row["trace_context"],
            kind="client",
            attributes={
                "content_jobs.job_id": str(row["job_id"]),
                "content_jobs.callback.attempt": attempt,
                "server.address": row["host"],
                "http.request.method": "POST",
            },
        ) as span:
            status, error, answered = await self._post(row, span.traceparent)
            span.set_attribute("http.response.status_code", status)
            if not (status is not None and 200 <= status < 300):
                span.fail(error or f"HTTP {status}")
            return status, error, answered

    async def _post(
        self, row: asyncpg.Record, traceparent: str | None = None
    ) -> tuple[int | None, str | None, bool | None]:
        """The HTTP status (None: no answer), the error, and whether the host answered (None:
        it was not asked, which says nothing about it)."""
        body = dumps(Job.from_row(row).to_json())
        assert self._session is not None
        try:
            check_at_delivery(row["url"], self._policy)
            secret = await self._secrets.current(row["company_id"])
            headers = {
                "Content-Type": "application/json",
                EVENT_HEADER: "job.finished",
                **signed_headers(secret.signing_keys, str(row["delivery_id"]), body),
            }
            if traceparent is not None:
                headers["traceparent"] = traceparent
            async with self._session.post(
                row["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                return resp.status, None, True
        except (HostNotAllowed, SecretUnreadable) as exc:
            return None, str(exc), None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, str(exc) or type(exc).__name__, False


#: the app's callback sender, on worker replicas with callbacks on
CALLBACKS = web.AppKey("callbacks", CallbackSender)
