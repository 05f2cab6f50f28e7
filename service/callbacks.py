"""Completion callbacks: which URLs a job may name, how a delivery is signed, and the loop
that workers run to send them.

Deliveries live in Postgres (a trigger writes one when a job with `callback_url` ends, in
the same transaction), so they survive restarts; a worker holds a due delivery for
`HOLD_SECONDS` while it sends it, so one killed mid-send is picked up by another.

A tenant must not be able to make the service call its own network (SSRF): only hosts
matching `WEBHOOK_ALLOWED_HOSTS` are accepted, and a host that is, or resolves to, a
loopback, private, link-local or otherwise special address is refused unless that exact
name is listed. The check runs at submit and again at every delivery, on the addresses
the connection is actually made to (a resolver that refuses them), so a name that
re-resolves elsewhere later (DNS rebinding) gets nowhere. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import random
import socket
import time
import uuid
from typing import Any

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from service.codec import dumps
from service.db import DB_ERRORS
from service.errors import bad_request
from service.jobs import Job
from service.metrics import Metrics
from service.queries import QUERIES
from service.store import Executor

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
BATCH = 20
SIGNATURE_HEADER = "X-Content-Jobs-Signature"


class HostNotAllowed(Exception):
    pass


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """For receivers: the signature is ours and at most `tolerance` seconds old (replays of
    an old delivery are refused). Compare in constant time."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - t) > tolerance:
        return False
    expected = sign(secret, body, t).split(",", 1)[1].removeprefix("v1=")
    return hmac.compare_digest(expected, parts.get("v1", ""))


class HostPolicy:
    """`WEBHOOK_ALLOWED_HOSTS`: exact names, or `*.suffix` for any name under a domain."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact = frozenset(p.lower() for p in patterns if not p.startswith("*."))
        self.suffixes = tuple(p[1:].lower() for p in patterns if p.startswith("*."))

    @property
    def enabled(self) -> bool:
        return bool(self.exact or self.suffixes)

    def allows_name(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return host in self.exact or any(host.endswith(suffix) for suffix in self.suffixes)

    def allows_address(self, host: str, address: str) -> bool:
        """Special addresses only for a host listed by its exact name."""
        return host.lower().rstrip(".") in self.exact or _public(address)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


async def check_callback_url(raw: Any, policy: HostPolicy) -> str:
    """The submit-time check of `callbackUrl`: a `400` that says what is wrong."""
    if not isinstance(raw, str) or len(raw) > 2000:
        raise bad_request("callbackUrl must be an http(s) URL of at most 2000 characters")
    if not policy.enabled:
        raise bad_request("callbackUrl: callbacks are off (WEBHOOK_ALLOWED_HOSTS is empty)")
    try:
        url = URL(raw)
        url.host  # noqa: B018 -- decodes the host: a bad punycode label is a UnicodeError
    except ValueError:  # UnicodeError is one
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise bad_request("callbackUrl must be an http(s) URL")
    if not policy.allows_name(url.host):
        raise bad_request(f"callbackUrl: host {url.host!r} is not in WEBHOOK_ALLOWED_HOSTS")
    try:
        await _checked_addresses(url.host, url.port or 0, policy)
    except HostNotAllowed as exc:
        raise bad_request(f"callbackUrl: {exc}") from None
    return raw


async def _checked_addresses(host: str, port: int, policy: HostPolicy) -> list[ResolveResult]:
    try:
        found = await DefaultResolver().resolve(host, port, socket.AF_UNSPEC)
    except OSError:
        raise HostNotAllowed(f"host {host!r} does not resolve") from None
    except UnicodeError:  # IDNA refuses it (an empty or 64+ character label) before any lookup
        raise HostNotAllowed(f"host {host!r} is not a valid host name") from None
    for result in found:
        if not policy.allows_address(host, result["host"]):
            raise HostNotAllowed(f"host {host!r} resolves to a private or special address")
    return found


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver, refusing what the policy refuses: the check is on the very
    addresses the connection goes to."""

    def __init__(self, policy: HostPolicy) -> None:
        self._policy = policy

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return await _checked_addresses(host, port, self._policy)

    async def close(self) -> None:
        return None


def backoff(failed_attempts: int) -> float:
    """The wait after `failed_attempts` failures: 5 s, 10 s, 20 s ... capped at 10 minutes,
    each between half and all of that (jitter)."""
    ceiling = min(MAX_BACKOFF_SECONDS, FIRST_RETRY_SECONDS * 2.0 ** (failed_attempts - 1))
    return ceiling * (0.5 + random.random() / 2)


class CallbackSender:
    """The workers' delivery loop."""

    def __init__(self, db: Executor, secret: str, policy: HostPolicy, metrics: Metrics) -> None:
        self._db = db
        self._secret = secret
        self._policy = policy
        self._metrics = metrics
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def wake(self) -> None:
        """A job ended here: a delivery may be due now."""
        self._wake.set()

    def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(self._policy), limit=50)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        )
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            sent = 0
            try:
                rows = await self._db.fetch(QUERIES["claim_callbacks"], BATCH, HOLD_SECONDS)
                sent = len(rows)
                await asyncio.gather(*(self._deliver(row) for row in rows))
            except DB_ERRORS as exc:
                log.warning("callbacks_failed", error=str(exc))
            if sent < BATCH:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._wake.wait()
                self._wake.clear()

    async def _deliver(self, row: Any) -> None:
        delivery_id: uuid.UUID = row["delivery_id"]
        attempt = row["delivery_attempts"] + 1
        body = dumps(Job.from_row(row).to_json())
        headers = {
            "Content-Type": "application/json",
            "X-Content-Jobs-Event": "job.finished",
            "X-Content-Jobs-Delivery": str(delivery_id),
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        status: int | None = None
        error: str | None = None
        assert self._session is not None
        try:
            async with self._session.post(
                row["url"], data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, HostNotAllowed, OSError) as exc:
            error = str(exc) or type(exc).__name__
        delivered = status is not None and 200 <= status < 300
        too_old = row["age_seconds"] >= GIVE_UP_SECONDS
        retry_in = None if delivered or too_old else backoff(attempt)
        outcome = "delivered" if delivered else "failed" if retry_in is None else "retry"
        self._metrics.callback_deliveries.labels(outcome).inc()
        log.info("callback_attempt", delivery=str(delivery_id), status=status, error=error,
                 outcome=outcome, attempt=attempt)  # fmt: skip
        await self._db.execute(
            QUERIES["record_callback_attempt"],
            delivery_id,
            attempt,
            status,
            error,
            delivered,
            retry_in,
        )
