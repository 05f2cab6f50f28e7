"""Fixtures for the asset tests: both storage backends, S3 being a real moto server.

moto runs in-process as a real HTTP server on a free loopback port
(`ThreadedMotoServer`), so the S3 backend is exercised over the wire exactly
as against AWS, MinIO or any other S3-compatible store.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from service.assets.storage import Storage
from service.assets.storage.postgres import PostgresStorage
from service.assets.storage.s3 import S3Storage
from service.assets.store import AssetStore
from service.db.pool import create_pool

S3_REGION = "us-east-1"
S3_CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing"}
BACKENDS = ["postgres", "s3"]
_buckets = itertools.count()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server for this session; S3 tests skip if moto is missing."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"moto[server] is not installed ({exc}); pip install -e '.[dev]'")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The standard AWS variables, as a deployment would set them for the service."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_CREDENTIALS["access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_CREDENTIALS["secret_access_key"])
    monkeypatch.delenv("AWS_PROFILE", raising=False)


async def connect_s3(endpoint: str, bucket: str, prefix: str = "") -> S3Storage:
    return await S3Storage.connect(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=S3_REGION,
        credentials=S3_CREDENTIALS,
    )


async def new_bucket(endpoint: str) -> str:
    """A new, empty bucket: each test has its own."""
    name = f"content-jobs-test-{next(_buckets)}"
    storage = await connect_s3(endpoint, name)
    try:
        await storage.client.create_bucket(Bucket=name)
    finally:
        await storage.close()
    return name


@pytest.fixture
async def s3_bucket(moto_endpoint: str) -> str:
    return await new_bucket(moto_endpoint)


@pytest.fixture(params=BACKENDS)
async def storage(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Storage]:
    """Each test using it runs once per backend."""
    if request.param == "postgres":
        pool = await create_pool(database_url, 4)
        yield PostgresStorage(pool)
        await pool.close()
        return
    endpoint: str = request.getfixturevalue("moto_endpoint")
    s3 = await connect_s3(endpoint, await new_bucket(endpoint), prefix="tenant-a/")
    yield s3
    await s3.close()


@pytest.fixture
async def asset_store(storage: Storage, database_url: str) -> AsyncIterator[AssetStore]:
    pool = await create_pool(database_url, 4)
    yield AssetStore(pool, storage)
    await pool.close()


def s3_overrides(endpoint: str, bucket: str) -> dict[str, Any]:
    """Settings overrides for a service whose assets live in the moto bucket."""
    return {
        "storage_backend": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_region": S3_REGION,
        "s3_prefix": "svc",
    }
