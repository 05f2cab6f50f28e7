"""The two asset routes: an asset's description, and its bytes.

The bytes are served as immutable content: a strong ETag from the SHA-256
(`If-None-Match` gives 304), single byte ranges (206, or 416), and headers
that stop a browser from sniffing a type or running anything a document holds.
"""

from __future__ import annotations

import contextlib
import uuid
from urllib.parse import quote

import structlog
from aiohttp import web

from service.api import keys
from service.api.errors import ApiError, not_found
from service.api.middlewares import company_of
from service.api.ranges import Unsatisfiable, etag_matches, requested_range
from service.api.responses import json_response
from service.assets.storage import Chunks, ObjectNotFound
from service.assets.store import Asset

log = structlog.get_logger(__name__)

ASSET_NOT_FOUND = "Asset not found"
#: an asset's bytes never change, but access can be revoked: browsers only, and not for ever
CACHE_CONTROL = "private, max-age=3600"
#: viewed in a browser, a stored document can run nothing and load nothing
SANDBOX = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


async def get_asset(request: web.Request) -> web.Response:
    asset = await _asset_of(request)
    return json_response(asset.to_json())


async def asset_content(request: web.Request) -> web.StreamResponse:
    """The bytes, with ETag revalidation (304) and single byte ranges (206, or 416)."""
    asset = await _asset_of(request)
    headers = _content_headers(asset)
    if etag_matches(request.headers.get("If-None-Match"), asset.etag):
        return web.Response(status=304, headers=headers)
    try:
        byte_range = requested_range(request.headers, asset.etag, asset.byte_size)
    except Unsatisfiable:
        raise ApiError(
            416, "Range Not Satisfiable", {"Content-Range": f"bytes */{asset.byte_size}"}
        ) from None
    start, end = byte_range or (0, asset.byte_size)
    response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
    response.content_type = asset.content_type
    response.content_length = end - start
    if byte_range:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{asset.byte_size}"
    if request.method == "HEAD":
        await response.prepare(request)
        return response
    try:
        chunks = await request.app[keys.ASSETS].open(asset, start, end - start)
    except ObjectNotFound:
        raise not_found(ASSET_NOT_FOUND) from None
    return await _stream(request, response, chunks)


async def _stream(
    request: web.Request, response: web.StreamResponse, chunks: Chunks
) -> web.StreamResponse:
    """Once the headers are out an error cannot become a status: the connection is cut,
    and the client sees a body shorter than its `Content-Length`."""
    await response.prepare(request)
    try:
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                await response.write(chunk)
    except Exception as exc:
        log.warning("asset_stream_interrupted", error=repr(exc))
        response.force_close()
        return response
    await response.write_eof()
    return response


async def _asset_of(request: web.Request) -> Asset:
    company_id = company_of(request)
    try:
        asset_id = uuid.UUID(request.match_info["assetId"])
    except ValueError:
        raise not_found(ASSET_NOT_FOUND) from None
    asset = await request.app[keys.ASSETS].get(company_id, asset_id)
    if asset is None:
        raise not_found(ASSET_NOT_FOUND)
    return asset


def _content_headers(asset: Asset) -> dict[str, str]:
    return {
        "ETag": asset.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": CACHE_CONTROL,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": SANDBOX,
        # a stored document that links elsewhere must not tell that site where it was read
        "Referrer-Policy": "no-referrer",
        "Content-Disposition": content_disposition(asset.filename or f"{asset.id}"),
    }


def content_disposition(filename: str) -> str:
    """`inline` (the sandbox policy makes viewing safe), with an ASCII fallback name and
    the exact one in RFC 5987 form for saving."""
    fallback = "".join(_ascii_or_underscore(c) for c in filename)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _ascii_or_underscore(char: str) -> str:
    return char if char.isascii() and char.isprintable() and char not in '"\\' else "_"
