"""The default storage backend: objects in the service's own database, in 256 KiB chunks.

Nothing else to run or configure. A put streams chunk by chunk inside one
transaction (the object row last, so a reader never sees half an object); a
read fetches a few chunks per query, so neither ever holds a large object in
memory, and a byte range reads only the chunks it covers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from service.assets.storage import (
    Chunks,
    Data,
    Digest,
    ObjectHead,
    ObjectNotFound,
    StoredObject,
    chunks_of,
)
from service.db.queries import QUERIES

CHUNK_SIZE = 256 * 1024
#: chunks fetched per query while reading: 1 MiB in memory at most
CHUNKS_PER_READ = 4


class PostgresStorage:
    def __init__(self, pool: asyncpg.Pool[Any], chunk_size: int = CHUNK_SIZE) -> None:
        self.pool = pool
        self.chunk_size = chunk_size

    async def put(self, key: str, data: Data, content_type: str) -> StoredObject:
        digest = Digest()
        async with self.pool.acquire() as conn, conn.transaction():
            chunk_no = 0
            async for chunk in chunks_of(data, self.chunk_size):
                await conn.execute(
                    QUERIES["insert_object_chunk"], key, chunk_no, digest.update(chunk)
                )
                chunk_no += 1
            stored = digest.result(key)
            await conn.execute(
                QUERIES["insert_object"],
                key,
                content_type,
                stored.size,
                stored.sha256,
                self.chunk_size,
            )
        return stored

    async def get(self, key: str, offset: int = 0, length: int | None = None) -> Chunks:
        row = await self.pool.fetchrow(QUERIES["head_object"], key)
        if row is None:
            raise ObjectNotFound(key)
        size: int = row["byte_size"]
        end = size if length is None else min(size, offset + length)
        return self._read(key, row["chunk_size"], offset, end)

    async def _read(self, key: str, chunk_size: int, start: int, end: int) -> Chunks:
        """Bytes [start, end), a few chunks per query; no connection is held between them."""
        if start >= end:
            return
        first, last = start // chunk_size, (end - 1) // chunk_size
        for batch in range(first, last + 1, CHUNKS_PER_READ):
            rows = await self.pool.fetch(
                QUERIES["object_chunks"], key, batch, min(batch + CHUNKS_PER_READ - 1, last)
            )
            if len(rows) != min(CHUNKS_PER_READ, last - batch + 1):
                raise ObjectNotFound(key)  # deleted while being read
            for row in rows:
                base = row["chunk_no"] * chunk_size
                data: bytes = row["data"]
                yield data[max(start - base, 0) : end - base]

    async def head(self, key: str) -> ObjectHead | None:
        row = await self.pool.fetchrow(QUERIES["head_object"], key)
        if row is None:
            return None
        return ObjectHead(key, row["byte_size"], row["content_type"])

    async def delete(self, keys: Sequence[str]) -> None:
        if keys:
            await self.pool.execute(QUERIES["delete_objects"], list(keys))

    async def close(self) -> None:
        """The pool belongs to the application, which closes it."""
