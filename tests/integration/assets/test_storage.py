"""Both storage backends keep one promise: bytes in, the same bytes out, in any range.

Runs once per backend (`postgres` in the test database, `s3` against a real
moto server over HTTP).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import AsyncIterator

import pytest

from service.assets.storage import Chunks, ObjectNotFound, Storage, object_key
from service.assets.storage.postgres import CHUNK_SIZE, CHUNKS_PER_READ
from service.assets.storage.s3 import MIN_PART_SIZE, S3Storage

MiB = 1024 * 1024


def payload(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


async def read_all(chunks: Chunks) -> bytes:
    async with contextlib.aclosing(chunks):
        return b"".join([chunk async for chunk in chunks])


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """An async stream of uneven pieces, as an upload or a renderer would produce."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [0, 1, 5 * MiB], ids=["0B", "1B", "5MiB"])
async def test_round_trip_of_bytes(storage: Storage, size: int) -> None:
    data = payload(size)
    key = object_key("acme", "data.bin")

    stored = await storage.put(key, data, "application/octet-stream")

    assert stored.key == key
    assert stored.size == size
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    read = await read_all(await storage.get(key))
    assert hashlib.sha256(read).hexdigest() == stored.sha256
    head = await storage.head(key)
    assert head is not None
    assert (head.size, head.content_type) == (size, "application/octet-stream")


async def test_put_streams_an_async_iterator(storage: Storage) -> None:
    data = payload(3 * MiB + 17)
    key = object_key("acme", None)

    stored = await storage.put(key, pieces(data, 100_003), "application/octet-stream")

    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await read_all(await storage.get(key)) == data


async def test_put_of_an_empty_stream(storage: Storage) -> None:
    key = object_key("acme", None)
    stored = await storage.put(key, pieces(b"", 10), "text/plain")
    assert (stored.size, stored.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert await read_all(await storage.get(key)) == b""


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, 1),
        (10, None),
        (CHUNK_SIZE - 3, 10),  # across the first chunk boundary
        (CHUNK_SIZE * (CHUNKS_PER_READ - 1) + 5, CHUNK_SIZE * 2),  # across a read batch
        (CHUNK_SIZE * 4, CHUNK_SIZE),  # exactly one whole chunk
        (5 * MiB - 5, None),  # the last bytes
        (5 * MiB - 5, 1000),  # a length past the end is cut at the end
    ],
)
async def test_ranges(storage: Storage, offset: int, length: int | None) -> None:
    data = payload(5 * MiB)
    key = object_key("acme", None)
    await storage.put(key, data, "application/octet-stream")

    read = await read_all(await storage.get(key, offset, length))

    assert read == data[offset : None if length is None else offset + length]


async def test_a_range_past_the_end_is_empty(storage: Storage) -> None:
    key = object_key("acme", None)
    await storage.put(key, b"0123456789", "text/plain")
    assert await read_all(await storage.get(key, 10)) == b""
    assert await read_all(await storage.get(key, 3, 0)) == b""


async def test_missing_objects(storage: Storage) -> None:
    key = object_key("acme", None)
    assert await storage.head(key) is None
    with pytest.raises(ObjectNotFound):
        await storage.get(key)
    with pytest.raises(ObjectNotFound):
        await storage.get(key, 0, 0)
    await storage.delete([key])  # deleting what is not there is fine


async def test_delete(storage: Storage) -> None:
    kept, gone, also_gone = (object_key("acme", None) for _ in range(3))
    for key in (kept, gone, also_gone):
        await storage.put(key, payload(300_000), "application/octet-stream")

    await storage.delete([gone, also_gone])

    assert await storage.head(gone) is None
    assert await storage.head(also_gone) is None
    with pytest.raises(ObjectNotFound):
        await storage.get(gone)
    assert await read_all(await storage.get(kept)) == payload(300_000)


async def test_a_put_whose_stream_fails_stores_nothing(storage: Storage) -> None:
    key = object_key("acme", None)

    async def breaks_midway() -> AsyncIterator[bytes]:
        yield payload(CHUNK_SIZE * 2 + 1)
        raise RuntimeError("the producer failed")

    with pytest.raises(RuntimeError, match="producer failed"):
        await storage.put(key, breaks_midway(), "text/plain")
    assert await storage.head(key) is None


async def test_s3_multipart_upload_streams_part_by_part(moto_endpoint: str) -> None:
    """Objects over one part go up as a multipart upload (parts of the minimum size here)."""
    from tests.integration.assets.conftest import connect_s3, new_bucket

    s3 = await connect_s3(moto_endpoint, await new_bucket(moto_endpoint), prefix="/deep/prefix/")
    try:
        s3.part_size = MIN_PART_SIZE
        data = payload(2 * MIN_PART_SIZE + 123)
        key = object_key("acme", "big.bin")

        stored = await s3.put(key, pieces(data, 1_000_000), "application/octet-stream")

        assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert await read_all(await s3.get(key)) == data
        assert (
            await read_all(await s3.get(key, MIN_PART_SIZE - 2, 4))
            == data[MIN_PART_SIZE - 2 : MIN_PART_SIZE + 2]
        )
        listed = await s3.client.list_objects_v2(Bucket=s3.bucket)
        assert [o["Key"] for o in listed["Contents"]] == [f"deep/prefix/{key}"]
        uploads = await s3.client.list_multipart_uploads(Bucket=s3.bucket)
        assert not uploads.get("Uploads")
    finally:
        await s3.close()


async def test_s3_failed_multipart_upload_is_aborted(moto_endpoint: str) -> None:
    from tests.integration.assets.conftest import connect_s3, new_bucket

    s3: S3Storage = await connect_s3(moto_endpoint, await new_bucket(moto_endpoint))

    async def breaks_midway() -> AsyncIterator[bytes]:
        yield payload(MIN_PART_SIZE)
        raise RuntimeError("the producer failed")

    try:
        s3.part_size = MIN_PART_SIZE
        with pytest.raises(RuntimeError, match="producer failed"):
            await s3.put(object_key("acme", None), breaks_midway(), "text/plain")
        uploads = await s3.client.list_multipart_uploads(Bucket=s3.bucket)
        assert not uploads.get("Uploads")
        assert not (await s3.client.list_objects_v2(Bucket=s3.bucket)).get("Contents")
    finally:
        await s3.close()
