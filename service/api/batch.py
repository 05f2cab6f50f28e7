"""`POST /api/companies/{companyId}/content-jobs:batch`: up to 1,000 jobs in one request and
one transaction, for bulk producers.

Each item is checked exactly as a single submit is (`service/domain/submission.py`) and may carry
its own `idempotencyKey`; a bad item is that item's `{"error", "status"}`, never the batch's
failure. The valid items are committed together. The batch body may be larger than a single
submit's (`MAX_BATCH_BODY_BYTES`); each item's `input` is still capped by
`JOB_INPUT_MAX_BYTES`.

A full batch costs seconds of CPU and, parsed, many times its size in memory, so: its JSON
values are counted before it is parsed (`MAX_BATCH_VALUES`, a bound on both); parsing and
checking run in a thread, so the event loop keeps answering (health checks, lease renewals,
streams); and a replica works on at most `MAX_CONCURRENT_BATCHES` at once (one more is
`503` with `Retry-After`, so a client retries, perhaps on another replica).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import time
from typing import Any

import orjson
from aiohttp import web

from service.api import keys
from service.api.errors import ApiError, as_http, bad_request
from service.api.middlewares import company_of
from service.api.responses import json_response
from service.db.store import DependencyFailed, IdempotencyConflict, Refused
from service.domain.codec import dumps
from service.domain.errors import ClientError
from service.domain.jobs import NewJob
from service.domain.limits import MAX_BATCH_ITEMS, MAX_IDEMPOTENCY_KEY, MiB
from service.domain.submission import check_body, parse_submission, with_idempotency
from service.jobtypes import JobTypes
from service.settings import Settings
from service.webhooks.hosts import check_callback_url

#: a full batch of typical inputs; larger bodies are 413 before they are read
MAX_BATCH_BODY_BYTES = 16 * MiB
#: JSON values (objects, arrays, strings, numbers...) in one batch body, about 1,000 per job
#: of a full batch: parsing costs time and memory per value (a 2-byte `[]` is a 64-byte
#: list), so past this a batch is 413 before it is parsed (~100 MB and ~0.1 s of parse)
MAX_BATCH_VALUES = 1_000_000
#: batches one replica reads and checks at once (each up to ~100 MB while parsed)
MAX_CONCURRENT_BATCHES = 2
#: the checking thread hands the GIL to the event loop's thread at least this often (Python's
#: own switch interval is 5 ms, and a thread coming back from I/O may wait that long for it)
GIL_YIELD_SECONDS = 0.001
BUSY_RETRY_AFTER_SECONDS = "1"

_DECODER = json.JSONDecoder()
_HEAD = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"jobs"[ \t\n\r]*:[ \t\n\r]*\[[ \t\n\r]*')
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")
_TAIL = re.compile(r"[ \t\n\r]*\}[ \t\n\r]*\Z")
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)


async def submit_batch(request: web.Request) -> web.Response:
    company_id = company_of(request, write=True)
    slots = request.app[keys.BATCH_SLOTS]
    if slots.locked():
        raise ApiError(
            503,
            f"this replica is checking {MAX_CONCURRENT_BATCHES} batches already, retry later",
            {"Retry-After": BUSY_RETRY_AFTER_SECONDS},
        )
    async with slots:
        raw = await _read(request)
        settings = request.app[keys.SETTINGS]
        job_types = request.app[keys.JOB_TYPES]
        checked = await asyncio.to_thread(check_batch, raw, settings, job_types, company_id)
        del raw
        return await _submit(request, company_id, checked)


async def _submit(
    request: web.Request, company_id: str, checked: list[_Checked | ApiError]
) -> web.Response:
    jobs = [await _with_callback(request, item) for item in checked]
    jobs = await _with_dependencies(request, company_id, jobs)
    results: list[dict[str, Any] | None] = [
        {"error": item.message, "status": item.status} if isinstance(item, ApiError) else None
        for item in jobs
    ]
    valid = _renumbered([(index, new) for index, new in enumerate(jobs) if isinstance(new, NewJob)])
    if (traceparent := request.get(keys.TRACEPARENT)) is not None:  # tracing on
        valid = [(i, dataclasses.replace(new, trace_context=traceparent)) for i, new in valid]
    if valid:
        await request.app[keys.QUOTA].admit(company_id, len(valid))
        outcomes = await request.app[keys.STORE].submit_batch([new for _, new in valid])
        metrics = request.app[keys.METRICS]
        for (index, new), outcome in zip(valid, outcomes, strict=True):
            if isinstance(outcome, IdempotencyConflict):
                message = "idempotencyKey was already used with a different request body"
                results[index] = {"error": message, "status": 409}
                continue
            if isinstance(outcome, DependencyFailed):
                failed = valid[outcome.index][0]
                message = f"dependsOn references jobs[{failed}], which was not submitted"
                results[index] = {"error": message, "status": 400}
                continue
            if isinstance(outcome, Refused):
                message = f"jobs[{index}] holds a value the database refused: {outcome}"
                results[index] = {"error": message, "status": 400}
                continue
            if outcome.created:
                metrics.jobs_submitted.labels(new.job_type).inc()
            results[index] = {
                "jobId": outcome.id,
                "status": outcome.status.value,
                "createdAt": outcome.created_at,
            }
    return json_response({"results": results})


async def _read(request: web.Request) -> bytearray:
    too_large = ApiError(413, f"batch body is larger than {MAX_BATCH_BODY_BYTES} bytes")
    if request.content_length is not None and request.content_length > MAX_BATCH_BODY_BYTES:
        raise too_large
    raw = bytearray()
    try:
        async for chunk in request.content.iter_any():
            if len(raw) + len(chunk) > MAX_BATCH_BODY_BYTES:
                raise too_large
            raw += chunk
    except web.RequestPayloadError:
        raise bad_request("request body could not be read (check Content-Encoding)") from None
    return raw


def check_batch(
    raw: bytes | bytearray, settings: Settings, job_types: JobTypes, company_id: str
) -> list[_Checked | ApiError]:
    """Each item's job or its error, in order (runs in a thread: no I/O, no event loop);
    `ApiError` for a body that is not a batch at all."""
    if _values_exceed(raw, MAX_BATCH_VALUES):
        raise ApiError(413, f"batch body holds more than {MAX_BATCH_VALUES} JSON values")
    malformed = bad_request(f'body must be {{"jobs": [...]}} with 1 to {MAX_BATCH_ITEMS} jobs')
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise bad_request("request body must be UTF-8 JSON") from None
    texts = _item_texts(text)
    jobs: list[Any] | None = texts
    if texts is None:  # not the plain form: parsed whole, holding the GIL while it is
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise bad_request('request body must be {"jobs": [...]} (valid JSON)') from None
        jobs = body.get("jobs") if isinstance(body, dict) else None
    del text
    if not isinstance(jobs, list) or not 1 <= len(jobs) <= MAX_BATCH_ITEMS:
        raise malformed
    checked: list[_Checked | ApiError] = []
    next_yield = time.perf_counter() + GIL_YIELD_SECONDS
    for index, item in enumerate(jobs):
        jobs[index] = None  # its text or parsed JSON goes once its job holds what it needs
        if time.perf_counter() >= next_yield:
            # the event loop's thread may have the GIL now. Not after every item: while the
            # loop is busy, each hand-over waits for the loop to give the GIL back, and one
            # per item made a batch of 1,000 jobs take ~240 ms of waiting (8,000 jobs/s)
            time.sleep(0)
            next_yield = time.perf_counter() + GIL_YIELD_SECONDS
        try:
            item = item if texts is None else _parse_item(item, index)
            checked.append(_check_item(item, index, settings, job_types, company_id))
        except (ApiError, ClientError) as exc:
            checked.append(as_http(exc))
    return checked


def _item_texts(text: str) -> list[Any] | None:
    """The items of a plain `{"jobs": [...]}` as JSON texts, or None for any other form.

    Each item is then parsed on its own: one `orjson.loads` of the whole body would hold
    the GIL (and so the event loop) for as long as a full batch takes to parse. The stdlib
    decoder finds where each item ends (it parses it too: a second, shorter GIL hold).
    """
    head = _HEAD.match(text)
    if head is None:
        return None
    items: list[Any] = []
    position = head.end()
    while len(items) <= MAX_BATCH_ITEMS:
        try:
            end = _DECODER.raw_decode(text, position)[1]
        except (ValueError, RecursionError):
            return None
        items.append(text[position:end])
        separator = _SEPARATOR.match(text, end)
        if separator is None:
            return None
        position = separator.end()
        if separator.group(1) == "]":
            return items if _TAIL.match(text, position) else None
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    """An item the thread found valid; its `callbackUrl` host is resolved on the loop."""

    new: NewJob
    callback_url: Any = None


def _parse_item(text: str, index: int) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:  # what the stdlib takes and orjson not: NaN...
        raise bad_request(f"jobs[{index}] is not valid JSON ({exc})") from None


def _check_item(
    item: Any, index: int, settings: Settings, job_types: JobTypes, company_id: str
) -> _Checked:
    if not isinstance(item, dict):
        raise bad_request("each job must be a JSON object")
    check_body(item, where=f"jobs[{index}].")
    new = parse_submission(item, settings, job_types, company_id, batch_index=index)
    key = item.get("idempotencyKey")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY):
        raise bad_request(
            f"idempotencyKey must be a string of 1 to {MAX_IDEMPOTENCY_KEY} characters"
        )
    body = {k: v for k, v in item.items() if k != "idempotencyKey"}
    new = with_idempotency(new, body, key)
    # encoded now, so the parsed input goes with this item (a batch's inputs, parsed, were
    # up to a million objects alive at once, and the garbage collector's pauses walking
    # them held the GIL, and so the event loop)
    new = dataclasses.replace(new, input=orjson.Fragment(dumps(new.input)))
    return _Checked(new, item.get("callbackUrl"))


async def _with_callback(request: web.Request, item: _Checked | ApiError) -> NewJob | ApiError:
    if isinstance(item, ApiError) or item.callback_url is None:
        return item if isinstance(item, ApiError) else item.new
    try:
        url = await check_callback_url(item.callback_url, request.app[keys.CALLBACK_POLICY])
    except (ApiError, ClientError) as exc:
        return as_http(exc)
    return dataclasses.replace(item.new, callback_url=url)


async def _with_dependencies(
    request: web.Request, company_id: str, jobs: list[NewJob | ApiError]
) -> list[NewJob | ApiError]:
    """Each item with its `dependsOn` checked: the ids it names must be jobs of the company
    (one query for the whole batch), and an item depending on an item that failed fails
    with it (its own `400` naming that item), and so on down the batch."""
    named = {job_id for new in jobs if isinstance(new, NewJob) for job_id in new.depends_on}
    known = await request.app[keys.STORE].existing_jobs(company_id, list(named)) if named else set()
    checked: list[NewJob | ApiError] = []
    for new in jobs:
        if isinstance(new, NewJob):
            missing = sorted(str(job_id) for job_id in new.depends_on if job_id not in known)
            failed = [k for k in new.depends_on_items if isinstance(checked[k], ApiError)]
            if missing:
                new = as_http(bad_request(f"dependsOn names unknown jobs: {', '.join(missing)}"))
            elif failed:
                new = as_http(bad_request(f"dependsOn references jobs[{failed[0]}], which failed"))
        checked.append(new)
    return checked


def _renumbered(valid: list[tuple[int, NewJob]]) -> list[tuple[int, NewJob]]:
    """The valid items with their `"@<index>"` references as positions among the valid items
    (the store is given those alone; an item depending on an invalid one is invalid too)."""
    position = {index: n for n, (index, _) in enumerate(valid)}
    return [
        (i, dataclasses.replace(new, depends_on_items=tuple(position[k] for k in items)))
        if (items := new.depends_on_items)
        else (i, new)
        for i, new in valid
    ]


def _values_exceed(raw: bytes | bytearray, limit: int) -> bool:
    """Whether JSON `raw` holds more than `limit` values, without parsing it: every value but
    the outermost comes right after a `,` or its container's `[` or `{`. Counting those bytes
    is quick and can only overcount (strings may hold them); only past `limit` are the
    strings skipped for an exact count."""
    if raw.count(b",") + raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    count, position = 0, 0
    for string in _STRING.finditer(raw):
        count += _separators(raw, position, string.start())
        if count > limit:
            return True
        position = string.end()
    return count + _separators(raw, position, len(raw)) > limit


def _separators(raw: bytes | bytearray, start: int, end: int) -> int:
    return raw.count(b",", start, end) + raw.count(b"[", start, end) + raw.count(b"{", start, end)
