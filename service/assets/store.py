"""Assets: the result files of jobs, and their `content_assets` rows.

The `AssetStore` owns `content_assets` and is the only caller of the storage
backend; `service/api/asset_routes.py` serves assets over HTTP through it. Every
object key starts with the company id and every lookup is by company and id
together, so one company reading another's asset cannot be expressed: it is
simply not found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from service.assets.storage import Chunks, Data, ObjectNotFound, Storage, object_key
from service.db.queries import QUERIES

MAX_FILENAME = 255
if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    #: a pooled connection or a plain one: whichever holds the caller's transaction
    Connection: TypeAlias = asyncpg.Connection[Any] | PoolConnectionProxy[Any]


@dataclasses.dataclass(frozen=True)
class Asset:
    id: uuid.UUID
    company_id: str
    job_id: uuid.UUID | None
    object_key: str
    filename: str | None
    content_type: str
    byte_size: int
    sha256: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Asset:
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls)})

    def to_json(self) -> dict[str, Any]:
        """The asset resource of docs/api.md."""
        return {
            "id": self.id,
            "jobId": self.job_id,
            "contentType": self.content_type,
            "byteSize": self.byte_size,
            "sha256": self.sha256,
            "createdAt": self.created_at,
        }

    @property
    def etag(self) -> str:
        """A strong ETag: the bytes of an asset never change, and their hash names them."""
        return f'"{self.sha256}"'


class AssetStore:
    def __init__(self, pool: asyncpg.Pool[Any], storage: Storage) -> None:
        self.pool = pool
        self.storage = storage

    async def put(
        self,
        company_id: str,
        job_id: uuid.UUID | None,
        data: Data,
        content_type: str,
        filename: str | None = None,
    ) -> Asset:
        """Store the bytes, then record them; a failed record deletes the bytes again.

        `data` may be bytes or an async iterable of chunks (streamed, never
        held whole). A crash between the two steps leaves an unreferenced
        object, never a row without its bytes.
        """
        filename = _clean_filename(filename)
        key = object_key(company_id, filename)
        stored = await self.storage.put(key, data, content_type)
        try:
            row = await self.pool.fetchrow(
                QUERIES["insert_asset"],
                uuid.uuid4(),
                company_id,
                job_id,
                key,
                filename,
                content_type,
                stored.size,
                stored.sha256,
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self.storage.delete([key])
            raise
        assert row is not None
        return Asset.from_row(row)

    async def get(self, company_id: str, asset_id: uuid.UUID) -> Asset | None:
        row = await self.pool.fetchrow(QUERIES["get_asset"], asset_id, company_id)
        return Asset.from_row(row) if row else None

    async def open(self, asset: Asset, offset: int = 0, length: int | None = None) -> Chunks:
        """The asset's bytes; raises `ObjectNotFound` if they are gone (pruned meanwhile)."""
        if not asset.object_key.startswith(f"{asset.company_id}/"):
            raise ObjectNotFound(asset.object_key)  # never another company's object
        return await self.storage.get(asset.object_key, offset, length)

    async def delete_for_jobs(self, conn: Connection, job_ids: Sequence[uuid.UUID]) -> int:
        """Delete the assets of jobs: stored objects first, then rows (in `conn`'s transaction).

        In this order an interrupted prune leaves rows that the next run finds
        again, never objects that nothing points at.
        """
        rows = await conn.fetch(QUERIES["job_asset_keys"], list(job_ids))
        await self.storage.delete([row["object_key"] for row in rows])
        await conn.execute(QUERIES["delete_job_assets"], list(job_ids))
        return len(rows)

    async def close(self) -> None:
        await self.storage.close()


def _clean_filename(filename: str | None) -> str | None:
    """Only a base name is kept: a filename is a label for downloads, never a path."""
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if c.isprintable())[:MAX_FILENAME]
    return name or None
