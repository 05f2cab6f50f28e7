"""Asset storage: one small interface, two backends (`postgres`, the default, and `s3`).

A backend stores opaque objects under keys it is given; it knows nothing of
companies, jobs or HTTP. `service/assets/store.py` chooses the keys (namespaced by
company) and keeps the `content_assets` rows that point at them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncpg

    from service.settings import Settings

#: what a put takes: the bytes, or any async stream of pieces of them
Data = bytes | AsyncIterable[bytes]
#: what a get gives: chunks to send; close it (`contextlib.aclosing`) if you stop early
Chunks = AsyncGenerator[bytes, None]


class ObjectNotFound(KeyError):
    """No object under this key (never stored, or deleted meanwhile)."""


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """What a put wrote."""

    key: str
    size: int
    #: hex SHA-256 of the whole object
    sha256: str


@dataclasses.dataclass(frozen=True)
class ObjectHead:
    """What a head found (S3 knows no SHA-256 of a multipart upload, so none here)."""

    key: str
    size: int
    content_type: str


class Storage(Protocol):
    async def put(self, key: str, data: Data, content_type: str) -> StoredObject:
        """Store `data` under `key`, streaming an iterable without holding it all."""

    async def get(self, key: str, offset: int = 0, length: int | None = None) -> Chunks:
        """The bytes from `offset` (`length` of them, or to the end), as chunks.

        Awaiting it raises `ObjectNotFound` before any byte is sent, so a
        caller can still answer 404.
        """

    async def head(self, key: str) -> ObjectHead | None:
        """The object's size and type; None if it does not exist."""

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete objects; keys that do not exist are ignored (deleting is idempotent)."""

    async def close(self) -> None:
        """Release connections; the storage is unusable afterwards."""


def object_key(company_id: str, filename: str | None, now: datetime | None = None) -> str:
    """`{companyId}/content-jobs/{yyyy}/{mm}/{dd}/{uuid}{ext}`: unique, and a company's
    objects share one prefix (for listing, lifecycle rules and per-company deletion)."""
    now = now or datetime.now(UTC)
    suffix = PurePosixPath(filename or "").suffix.lower()
    ext = suffix if suffix[1:].isalnum() and len(suffix) <= 16 else ""
    return f"{company_id}/content-jobs/{now:%Y/%m/%d}/{uuid.uuid4()}{ext}"


async def chunks_of(data: Data, size: int) -> Chunks:
    """Re-cut bytes or a stream of pieces into chunks of exactly `size` (the last may be
    shorter, and an empty input gives no chunk); holds at most one chunk plus one piece."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        for start in range(0, len(view), size):
            yield bytes(view[start : start + size])
        return
    buffer = bytearray()
    async for piece in data:
        buffer += piece
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


class Digest:
    """Size and SHA-256 of what passes through, computed while streaming."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> bytes:
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def result(self, key: str) -> StoredObject:
        return StoredObject(key, self.size, self._hash.hexdigest())


async def make_storage(settings: Settings, pool: asyncpg.Pool[Any]) -> Storage:
    """The backend `STORAGE_BACKEND` names, ready to use; `close()` it when done."""
    if settings.storage_backend == "s3":
        from service.assets.storage.s3 import S3Storage

        return await S3Storage.connect(
            bucket=settings.s3_bucket or "",
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    from service.assets.storage.postgres import PostgresStorage

    return PostgresStorage(pool)


__all__ = [
    "Data",
    "ObjectHead",
    "ObjectNotFound",
    "Storage",
    "StoredObject",
    "make_storage",
    "object_key",
]
