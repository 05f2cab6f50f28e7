"""A job's streamed output, whole: `GET .../content-jobs/{jobId}/output`.

The text so far as `text/plain; charset=utf-8`, with single byte ranges (206, or 416) over
its UTF-8 bytes, so a client that has part of it (a page that reloads, a tail) asks for the
rest. Output only grows, so its length names its content: the ETag is the byte count, and
`If-Range` with an older one gets the whole text. It is never cached (it grows while the job
runs). The job's `outputTruncated` says whether some was dropped at `JOB_OUTPUT_MAX_BYTES`.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from service.api import keys
from service.api.errors import ApiError, not_found
from service.api.middlewares import company_of
from service.api.ranges import Unsatisfiable, requested_range


async def job_output(request: web.Request) -> web.Response:
    company_id = company_of(request)
    try:
        job_id = uuid.UUID(request.match_info["jobId"])
    except ValueError:
        raise not_found() from None  # a malformed id is a job that does not exist
    found = await request.app[keys.STORE].output(company_id, job_id)
    if found is None:
        raise not_found()
    text, _truncated = found
    data = text.encode()
    etag = f'"{len(data)}"'
    headers = {
        "ETag": etag,
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
    }
    try:
        byte_range = requested_range(request.headers, etag, len(data))
    except Unsatisfiable:
        raise ApiError(
            416, "Range Not Satisfiable", {"Content-Range": f"bytes */{len(data)}"}
        ) from None
    status = 200
    if byte_range is not None:
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        data, status = data[start:end], 206
    return web.Response(
        status=status, body=data, headers=headers, content_type="text/plain", charset="utf-8"
    )
