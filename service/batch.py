"""`POST /api/companies/{companyId}/content-jobs:batch`: up to 1,000 jobs in one request and
one transaction, for bulk producers.

Each item is checked exactly as a single submit is (`service/submission.py`) and may carry
its own `idempotencyKey`; a bad item is that item's `{"error", "status"}`, never the batch's
failure. The valid items are committed together. The batch body may be larger than a single
submit's (`MAX_BATCH_BODY_BYTES`); each item's `input` is still capped by
`JOB_INPUT_MAX_BYTES`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
from aiohttp import web

from service import keys
from service.callbacks import check_callback_url
from service.errors import ApiError, bad_request
from service.middlewares import company_of
from service.responses import json_response
from service.store import IdempotencyConflict, NewJob
from service.submission import check_body, parse_submission, with_idempotency

MAX_BATCH_ITEMS = 1000
#: a full batch of typical inputs; larger bodies are 413 before they are read
MAX_BATCH_BODY_BYTES = 16 * 1024 * 1024


async def submit_batch(request: web.Request) -> web.Response:
    company_id = company_of(request, write=True)
    items = await _items(request)
    results: list[dict[str, Any] | None] = [None] * len(items)
    valid: list[tuple[int, NewJob]] = []
    for index, item in enumerate(items):
        try:
            valid.append((index, await _parse(request, item, company_id)))
        except ApiError as exc:
            results[index] = {"error": exc.message, "status": exc.status}
    if valid:
        await request.app[keys.QUOTA].admit(company_id, len(valid))
        outcomes = await request.app[keys.STORE].submit_batch([new for _, new in valid])
        metrics = request.app[keys.METRICS]
        for (index, new), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, IdempotencyConflict):
                message = "idempotencyKey was already used with a different request body"
                results[index] = {"error": message, "status": 409}
                continue
            job, created = outcome
            if created:
                metrics.jobs_submitted.labels(new.job_type).inc()
            results[index] = {
                "jobId": job.id,
                "status": job.status.value,
                "createdAt": job.created_at,
            }
    return json_response({"results": results})


async def _items(request: web.Request) -> list[Any]:
    too_large = ApiError(413, f"batch body is larger than {MAX_BATCH_BODY_BYTES} bytes")
    if request.content_length is not None and request.content_length > MAX_BATCH_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > MAX_BATCH_BODY_BYTES:
                raise too_large
            chunks.append(chunk)
    except web.RequestPayloadError:
        raise bad_request("request body could not be read (check Content-Encoding)") from None
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise bad_request('request body must be {"jobs": [...]}') from None
    jobs = body.get("jobs") if isinstance(body, dict) else None
    if not isinstance(jobs, list) or not 1 <= len(jobs) <= MAX_BATCH_ITEMS:
        raise bad_request(f'body must be {{"jobs": [...]}} with 1 to {MAX_BATCH_ITEMS} jobs')
    return jobs


async def _parse(request: web.Request, item: Any, company_id: str) -> NewJob:
    if not isinstance(item, dict):
        raise bad_request("each job must be a JSON object")
    check_body(item)
    new = parse_submission(item, request.app[keys.SETTINGS], company_id)
    if item.get("callbackUrl") is not None:
        url = await check_callback_url(item["callbackUrl"], request.app[keys.CALLBACK_POLICY])
        new = dataclasses.replace(new, callback_url=url)
    key = item.get("idempotencyKey")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
        raise bad_request("idempotencyKey must be a string of 1 to 200 characters")
    body = {k: v for k, v in item.items() if k != "idempotencyKey"}
    return with_idempotency(new, body, key)
