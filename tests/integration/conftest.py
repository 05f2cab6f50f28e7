"""Fixtures for tests with real service processes on a Postgres server of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from service.db import migrations
from service.dev.pgserver import LocalPostgres
from tests.conftest import SECRET
from tests.integration.helpers import Receiver
from tests.processes import Replica


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres.temporary()
    server.start()
    migrations.apply(server.dsn)
    yield server
    server.remove()


@pytest.fixture
async def cluster(
    own_postgres: LocalPostgres, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Callable[[str, str], Any]]:
    """Start replicas by name and role; all are killed at the end, logs shown on failure."""
    conn = await asyncpg.connect(own_postgres.dsn)
    await conn.execute("TRUNCATE content_jobs, content_job_events CASCADE")
    await conn.close()
    env = {
        "DATABASE_URL": own_postgres.dsn,
        "AUTH_JWT_SECRET": SECRET,
        "JOB_LEASE_SECONDS": "2",
        "SHUTDOWN_GRACE_SECONDS": "1",
        "SSE_HEARTBEAT_SECONDS": "5",
        "LOG_FORMAT": "json",
    }
    replicas: list[Replica] = []

    async def start(name: str, role: str) -> Replica:
        replica = Replica(name, role, env, tmp_path)
        replicas.append(replica)
        replica.start()
        await replica.wait_ready()
        return replica

    yield start
    for replica in replicas:
        replica.stop()
    report = request.node.stash.get(_FAILED, False)
    if report:
        print("\n".join(r.logs() for r in replicas))


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A completion-callback receiver on loopback (`Receiver`), closed after the test."""
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.close()
