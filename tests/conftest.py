"""Test fixtures: a real Postgres server for the session, a fresh database per test.

The server is started once (or taken from DATABASE_URL); the schema is
migrated once into a template database, and each test gets its own
`CREATE DATABASE ... TEMPLATE` copy: real Postgres, isolated, fast.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from service.api.auth import issue_token
from service.app import create_app
from service.db import migrations
from service.db.pool import create_pool
from service.db.store import Store
from service.dev.pgserver import LocalPostgres
from service.events.notifier import Notifier
from service.jobtypes import JobTypes, load
from service.logging import configure
from service.settings import Settings

SECRET = "test-secret-that-is-long-enough-for-hs256"
#: one template per xdist worker: with DATABASE_URL set, the workers share one server
TEMPLATE = f"content_jobs_template_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
_counter = itertools.count()

# info, so tests can assert the canonical request log line with capture_logs
configure("console", "info")


def with_database(dsn: str, name: str) -> str:
    return str(URL(dsn).with_path(f"/{name}"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin DSN of a Postgres server for this session."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    server = LocalPostgres.temporary()
    server.start()
    yield server.dsn
    server.remove()


@pytest.fixture(scope="session")
def template_db(pg_server: str) -> str:
    import asyncio

    async def create() -> None:
        conn = await asyncpg.connect(pg_server)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()

    asyncio.run(create())
    migrations.apply(with_database(pg_server, TEMPLATE))
    return TEMPLATE


@pytest.fixture
async def database_url(pg_server: str, template_db: str) -> AsyncIterator[str]:
    name = f"test_{os.getpid()}_{next(_counter)}"
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await conn.close()
    yield with_database(pg_server, name)
    conn = await asyncpg.connect(pg_server)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def job_types() -> JobTypes:
    """The installed job types, as `create_app` loads them; a test that needs a handler of
    its own adds it to a copy (`job_types.plus(...)`), never to a shared registry."""
    return load()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env(
        {"DATABASE_URL": database_url, "AUTH_JWT_SECRET": SECRET},
        role="api",
        db_pool_size=5,
        sse_heartbeat_seconds=15.0,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """The store on its own pool and notifier, for tests below the HTTP layer."""
    pool = await create_pool(settings.database_url, 10)
    notifier = Notifier(pool)
    notifier.start()
    yield Store(pool, notifier)
    await notifier.close()
    await pool.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    """A direct connection, for looking behind the API."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


Client = TestClient[web.Request, web.Application]


MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client(settings: Settings) -> AsyncIterator[MakeClient]:
    """Start the service on a real loopback port with some settings changed."""
    clients: list[Client] = []

    async def make(**overrides: Any) -> Client:
        app = create_app(dataclasses.replace(settings, **overrides))
        test_client: Client = TestClient(TestServer(app, handler_cancellation=True))
        await test_client.start_server()
        clients.append(test_client)
        return test_client

    yield make
    for test_client in clients:
        await test_client.close()


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    """The service with role api: it serves, and runs no jobs."""
    return await make_client()


@pytest.fixture
async def worker_client(make_client: MakeClient) -> Client:
    """The service with role all: it serves and runs jobs."""
    return await make_client(role="all", job_lease_seconds=3.0)


def make_token(*companies: str, viewer: bool = False, ttl: float = 3600) -> str:
    return issue_token(SECRET, companies or ("acme",), sub="tests", viewer=viewer, ttl=ttl)


def auth(*companies: str, viewer: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(*companies, viewer=viewer)}"}


ROOT = Path(__file__).resolve().parent.parent
