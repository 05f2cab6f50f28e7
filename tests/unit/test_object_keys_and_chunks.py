"""Object keys, chunking and the storage settings: the storage layer without I/O."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from service.assets.storage import chunks_of, object_key
from service.settings import Settings, SettingsError


def test_object_keys_are_namespaced_by_company_and_date() -> None:
    now = datetime(2024, 3, 7, tzinfo=UTC)
    key = object_key("acme", "document.HTML", now)
    assert re.fullmatch(r"acme/content-jobs/2024/03/07/[0-9a-f-]{36}\.html", key)
    assert object_key("acme", None, now).count(".") == 0
    assert object_key("acme", "../../etc/passwd", now).startswith("acme/content-jobs/2024/03/07/")
    assert not object_key("acme", "x.tar/../../y", now).endswith("y")
    assert object_key("acme", "a", now) != object_key("acme", "a", now)


async def test_chunks_of_recuts_any_input() -> None:
    async def pieces() -> AsyncIterator[bytes]:
        for piece in (b"ab", b"", b"cdefg", b"h"):
            yield piece

    assert [c async for c in chunks_of(pieces(), 3)] == [b"abc", b"def", b"gh"]
    assert [c async for c in chunks_of(b"abcdef", 3)] == [b"abc", b"def"]
    assert [c async for c in chunks_of(b"", 3)] == []


BASE_ENV = {"DATABASE_URL": "postgresql://x@localhost/db", "AUTH_JWT_SECRET": "s" * 32}


def test_storage_settings() -> None:
    settings = Settings.from_env(BASE_ENV)
    assert settings.storage_backend == "postgres"
    settings = Settings.from_env(
        {
            **BASE_ENV,
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": "assets",
            "S3_ENDPOINT_URL": "http://minio:9000",
            "S3_PREFIX": "prod/",
            "S3_REGION": "eu-west-1",
        }
    )
    assert (settings.storage_backend, settings.s3_bucket, settings.s3_prefix) == (
        "s3",
        "assets",
        "prod/",
    )
    assert (settings.s3_endpoint_url, settings.s3_region) == ("http://minio:9000", "eu-west-1")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_BACKEND": "s3"}, "S3_BUCKET is required when STORAGE_BACKEND=s3"),
        ({"STORAGE_BACKEND": "disk"}, "STORAGE_BACKEND is invalid"),
        ({"S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL is invalid"),
    ],
)
def test_bad_storage_settings_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE_ENV, **env})
