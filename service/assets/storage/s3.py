"""The `s3` storage backend: any S3-compatible store, through aiobotocore.

Selected with `STORAGE_BACKEND=s3`. Credentials come from botocore's usual
chain (the standard `AWS_*` environment variables, a profile, a web identity
or instance role), so no secret passes through the service's own settings.
Large uploads go up as multipart uploads one part at a time, so memory stays
at one part whatever the object's size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from service.assets.storage import (
    Chunks,
    Data,
    Digest,
    ObjectHead,
    ObjectNotFound,
    StoredObject,
    chunks_of,
)

if TYPE_CHECKING:
    from aiobotocore.response import StreamingBody
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef

log = structlog.get_logger(__name__)

#: multipart part size: S3 needs at least 5 MiB for every part but the last
PART_SIZE = 8 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024
READ_CHUNK = 256 * 1024
#: DeleteObjects takes at most 1000 keys
DELETE_BATCH = 1000
_MISSING = {"NoSuchKey", "404", "NotFound"}


class S3Storage:
    def __init__(
        self, client: S3Client, exit_stack: contextlib.AsyncExitStack, bucket: str, prefix: str
    ) -> None:
        self.client = client
        self._exit_stack = exit_stack
        self.bucket = bucket
        #: prepended to every key: several deployments can share one bucket
        self.prefix = prefix
        self.part_size = PART_SIZE

    @classmethod
    async def connect(
        cls,
        *,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> S3Storage:
        """A client for the bucket; `credentials` (access key id, secret) are for tests only."""
        config = AioConfig(
            # checksums only where S3 requires them: not every S3-compatible store knows the rest
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # a custom endpoint (MinIO, Ceph, moto...) rarely has per-bucket DNS names
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        keys = credentials or {}
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=keys.get("access_key_id"),
                aws_secret_access_key=keys.get("secret_access_key"),
                config=config,
            )
        )
        return cls(client, stack, bucket, _normalized_prefix(prefix))

    async def put(self, key: str, data: Data, content_type: str) -> StoredObject:
        digest = Digest()
        parts = chunks_of(data, self.part_size)
        async with contextlib.aclosing(parts):
            first = await anext(parts, b"")
            if len(first) < self.part_size:  # the whole object fits in one request
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + key,
                    Body=digest.update(first),
                    ContentType=content_type,
                )
            else:
                await self._multipart(self.prefix + key, content_type, digest, first, parts)
        return digest.result(key)

    async def _multipart(
        self, full_key: str, content_type: str, digest: Digest, first: bytes, rest: Chunks
    ) -> None:
        """Upload part by part; an upload that fails is aborted so it leaves nothing billed."""
        bucket = self.bucket
        upload = await self.client.create_multipart_upload(
            Bucket=bucket, Key=full_key, ContentType=content_type
        )
        upload_id = upload["UploadId"]
        done: list[CompletedPartTypeDef] = []
        try:
            part: bytes | None = first
            while part is not None:
                number = len(done) + 1
                sent = await self.client.upload_part(
                    Bucket=bucket,
                    Key=full_key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=digest.update(part),
                )
                done.append({"ETag": sent["ETag"], "PartNumber": number})
                part = await anext(rest, None)
            await self.client.complete_multipart_upload(
                Bucket=bucket, Key=full_key, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException:
            with contextlib.suppress(Exception):
                await self.client.abort_multipart_upload(
                    Bucket=bucket, Key=full_key, UploadId=upload_id
                )
            raise

    async def get(self, key: str, offset: int = 0, length: int | None = None) -> Chunks:
        if length == 0:
            if await self.head(key) is None:
                raise ObjectNotFound(key)
            return _nothing()
        byte_range = None
        if offset or length is not None:
            last = "" if length is None else str(offset + length - 1)
            byte_range = f"bytes={offset}-{last}"
        try:
            body = await self._get_object(self.prefix + key, byte_range)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _MISSING:
                raise ObjectNotFound(key) from None
            if code == "InvalidRange":  # the range starts at or past the end
                return _nothing()
            raise
        return _body_chunks(body)

    async def _get_object(self, full_key: str, byte_range: str | None) -> StreamingBody:
        if byte_range is None:
            response = await self.client.get_object(Bucket=self.bucket, Key=full_key)
        else:
            response = await self.client.get_object(
                Bucket=self.bucket, Key=full_key, Range=byte_range
            )
        return response["Body"]

    async def head(self, key: str) -> ObjectHead | None:
        try:
            found = await self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") in _MISSING:
                return None
            raise
        return ObjectHead(key, found["ContentLength"], found.get("ContentType", ""))

    async def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            response = await self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": self.prefix + k} for k in batch], "Quiet": True},
            )
            errors = [e for e in response.get("Errors", []) if e.get("Code") not in _MISSING]
            if errors:
                raise RuntimeError(f"S3 could not delete {len(errors)} object(s): {errors[0]}")

    async def close(self) -> None:
        await self._exit_stack.aclose()


def _normalized_prefix(prefix: str) -> str:
    """`assets`, `/assets/` and `assets/` all mean keys under `assets/`."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


async def _body_chunks(body: StreamingBody) -> Chunks:
    """The response body in chunks, released even when the reader stops early."""
    async with body:
        async for chunk in body.iter_chunks(READ_CHUNK):
            yield chunk


async def _nothing() -> Chunks:
    return
    yield  # pragma: no cover - makes this an (empty) async generator
