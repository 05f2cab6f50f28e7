"""The OpenAPI 3.1 document of docs/api.md, served at `GET /openapi.json`.

It is a Python dict built at request time so the parts that change with the
code stay right by themselves: the submit body is a `oneOf` of the installed job
types (discriminated by `jobType`), each with its input schema from its model.
`tests/integration/test_openapi_documents_every_route.py` validates it and fuzzes the
server from it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service import __version__
from service.api import keys
from service.api.responses import json_response
from service.domain.jobs import Status
from service.domain.limits import (
    COMPANY_ID_PATTERN,
    DEFAULT_PAGE_SIZE,
    EVERY_SECONDS_RANGE,
    MAX_ATTEMPTS_RANGE,
    MAX_BATCH_ITEMS,
    MAX_CALLBACK_URL,
    MAX_DELAY_SECONDS,
    MAX_DEPENDENCIES,
    MAX_IDEMPOTENCY_KEY,
    MAX_PAGE_SIZE,
    MAX_SCHEDULE_NAME,
    MAX_SOURCE_TASK_ID,
    PRIORITY_RANGE,
)
from service.jobtypes import JobTypes

VERSION = __version__
JOBS = "/api/companies/{companyId}/content-jobs"
ASSETS = "/api/companies/{companyId}/assets/{assetId}"
#: GET routes also take the token from a cookie or the query: `EventSource` sends no headers
READ_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"cookie": []}, {"query": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}]


async def openapi_json(request: web.Request) -> web.Response:
    return json_response(document(request.app[keys.JOB_TYPES]))


def document(job_types: JobTypes) -> dict[str, Any]:
    """The OpenAPI document of this server, whose submit schemas are its `job_types`."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "content-jobs",
            "version": VERSION,
            "description": "Long-running content jobs over HTTP, live progress over SSE.",
        },
        "paths": {
            **_job_paths(),
            **_webhook_paths(),
            **_asset_paths(),
            **_flow_paths(),
            **_schedule_paths(),
            **_service_paths(),
        },
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {
                **_schemas(job_types),
                **_submit_schemas(job_types),
                **SCHEDULE_SCHEMAS,
            },
            "parameters": PARAMETERS,
            "responses": ERROR_RESPONSES,
        },
    }


def _job_paths() -> dict[str, Any]:
    job = _ref("parameters", "jobId")
    return {
        JOBS: {
            "parameters": [_ref("parameters", "companyId")],
            "post": SUBMIT,
            "get": LIST,
        },
        JOBS + ":batch": {"parameters": [_ref("parameters", "companyId")], "post": BATCH},
        JOBS + ":overview": {"parameters": [_ref("parameters", "companyId")], "get": OVERVIEW},
        JOBS + "/{jobId}": {
            "parameters": [_ref("parameters", "companyId"), job],
            "get": _read("getJob", "jobs", "A job", _json_ok("Job"), 404),
        },
        JOBS + "/{jobId}/cancel": {
            "parameters": [_ref("parameters", "companyId"), job],
            "post": CANCEL,
        },
        JOBS + "/{jobId}/retry": {
            "parameters": [_ref("parameters", "companyId"), job],
            "post": RETRY,
        },
        "/api/job-types": {"get": JOB_TYPES},
        JOBS + "/{jobId}/events": {
            "parameters": [_ref("parameters", "companyId"), job],
            "get": EVENTS,
        },
        JOBS + "/{jobId}/output": {
            "parameters": [_ref("parameters", "companyId"), job],
            "get": OUTPUT,
        },
    }


def _webhook_paths() -> dict[str, Any]:
    """The company's callback signing secret: editors only (viewers get `403`), `404` while
    callbacks are off (no `WEBHOOK_SECRET`)."""
    secret = {
        "description": "The secret",
        "content": _json(
            _object(
                secret={"type": "string", "pattern": "^whsec_[A-Za-z0-9+/]+=*$"}, createdAt=TIME
            )
        ),
    }
    path = "/api/companies/{companyId}/webhook-secret"

    def operation(operation_id: str, summary: str, write: bool) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["callbacks"],
            "security": WRITE_SECURITY if write else READ_SECURITY,
            "responses": {"200": secret, **_errors(400, 401, 403, 404)},
        }

    company = [_ref("parameters", "companyId")]
    return {
        path: {
            "parameters": company,
            "get": operation("getWebhookSecret", "The company's callback signing secret", False),
        },
        path + ":rotate": {
            "parameters": company,
            "post": operation(
                "rotateWebhookSecret", "A new signing secret; both sign deliveries for 24 h", True
            ),
        },
    }


def _flow_paths() -> dict[str, Any]:
    """Flow control: pausing a job type (role `admin` with `companies: ["*"]`, others `403`)
    and redriving a company's failed or cancelled jobs (its editors)."""

    def pause(operation_id: str, summary: str) -> dict[str, Any]:
        return {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["admin"],
            "security": WRITE_SECURITY,
            "responses": {
                "200": {
                    "description": "The job type as listed",
                    "content": _json(_ref("schemas", "JobTypeInfo")),
                },
                **_errors(401, 403, 404),
            },
        }

    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    redrive = {
        "operationId": "redriveJobs",
        "summary": "Queue the company's failed or cancelled jobs again (at most 10,000)",
        "description": (
            "Every job of the company with `status` (and `jobType`, and finished after "
            "`finishedAfter`, when given) is queued again as a retry does, in one "
            "transaction, at most 10,000 per call: call again while `retried` is 10,000."
        ),
        "tags": ["jobs"],
        "security": WRITE_SECURITY,
        "requestBody": {
            "required": True,
            "content": _json(
                {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"enum": ["failed", "cancelled"]},
                        "jobType": {"type": "string"},
                        "finishedAfter": {"type": "string", "format": "date-time"},
                    },
                }
            ),
        },
        "responses": {
            "200": {
                "description": "How many jobs were queued again",
                "content": _json(_object(retried={"type": "integer", "minimum": 0})),
            },
            **_errors(400, 401, 403),
        },
    }
    return {
        "/api/job-types/{name}/pause": {
            "parameters": [name],
            "post": pause("pauseJobType", "Pause a job type: its jobs stay queued (admin)"),
        },
        "/api/job-types/{name}/resume": {
            "parameters": [name],
            "post": pause("resumeJobType", "Resume a paused job type (admin)"),
        },
        JOBS + ":retry": {"parameters": [_ref("parameters", "companyId")], "post": redrive},
    }


def _asset_paths() -> dict[str, Any]:
    params = [_ref("parameters", "companyId"), _ref("parameters", "assetId")]
    return {
        ASSETS: {
            "parameters": params,
            "get": _read("getAsset", "assets", "An asset's metadata", _json_ok("Asset"), 404),
        },
        ASSETS + "/content": {"parameters": params, "get": ASSET_CONTENT},
    }


def _service_paths() -> dict[str, Any]:
    status = {"type": "object", "properties": {"status": {"type": "string"}}}
    ready = _public("readyz", "Ready to serve", "application/json", status)
    ready["description"] = (
        "`200` when the database answers, migrations are current and the listener is "
        "connected, else `503`."
    )
    ready["responses"]["503"] = {"description": "Not ready", "content": _json(status)}
    return {
        "/": {"get": _public("webPage", "The page to submit and watch jobs", "text/html")},
        "/healthz": {"get": _public("healthz", "The process is alive", "application/json", status)},
        "/readyz": {"get": ready},
        "/metrics": {"get": _public("metrics", "Prometheus metrics", "text/plain")},
        "/openapi.json": {"get": _public("openapi", "This document", "application/json")},
    }


def _public(
    operation_id: str, summary: str, media_type: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A service route: no token."""
    content = {media_type: {"schema": schema or {"type": "string"}}}
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["service"],
        "security": [],
        "responses": {"200": {"description": summary, "content": content}},
    }


def _read(
    operation_id: str, tag: str, summary: str, ok: dict[str, Any], *errors: int
) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "security": READ_SECURITY,
        "responses": {"200": ok, **_errors(400, 401, 403, *errors)},
    }


def _json_ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": _json(_ref("schemas", schema))}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    return {str(status): _ref("responses", str(status)) for status in statuses}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _nullable(type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": [type_, "null"], **extra}


SUBMIT: dict[str, Any] = {
    "operationId": "submitJob",
    "summary": "Submit a job",
    "tags": ["jobs"],
    "security": WRITE_SECURITY,
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "The same key returns the first request's job for 24 h.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        }
    ],
    "requestBody": {"required": True, "content": _json(_ref("schemas", "SubmitRequest"))},
    "responses": {
        "202": {
            "description": "Queued",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "The job"}},
            "content": _json(_ref("schemas", "Submitted")),
        },
        **_errors(400, 401, 403, 409, 413, 429),
    },
}

LIST: dict[str, Any] = {
    "operationId": "listJobs",
    "summary": "The company's jobs, newest first",
    "tags": ["jobs"],
    "security": READ_SECURITY,
    "parameters": [
        {
            "name": "limit",
            "in": "query",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
            },
        },
        {
            "name": "cursor",
            "in": "query",
            "schema": {"type": "string"},
            "description": 'From the `Link: rel="next"` header of the previous page.',
        },
        {"name": "status", "in": "query", "schema": _ref("schemas", "Status")},
        {"name": "jobType", "in": "query", "schema": {"type": "string"}},
        {"name": "sourceTaskId", "in": "query", "schema": {"type": "string"}},
        {
            "name": "parentJobId",
            "in": "query",
            "schema": {"type": "string", "format": "uuid"},
            "description": "Only the children of this job (created by its handler)",
        },
    ],
    "responses": {
        "200": {
            "description": "A page of jobs",
            "headers": {
                "Link": {"schema": {"type": "string"}, "description": '`<url>; rel="next"`'}
            },
            "content": _json({"type": "array", "items": _ref("schemas", "JobSummary")}),
        },
        **_errors(400, 401, 403),
    },
}

CANCEL: dict[str, Any] = {
    "operationId": "cancelJob",
    "summary": "Cancel a job; a running handler is stopped within 1 s",
    "tags": ["jobs"],
    "security": WRITE_SECURITY,
    "responses": {"200": _json_ok("Job", "Now cancelled"), **_errors(400, 401, 403, 404, 409)},
}

BATCH: dict[str, Any] = {
    "operationId": "submitBatch",
    "summary": (
        f"Submit up to {MAX_BATCH_ITEMS:,} jobs in one transaction; a result per item, in order"
    ),
    "tags": ["jobs"],
    "security": WRITE_SECURITY,
    "requestBody": {
        "required": True,
        "content": _json(
            {
                "type": "object",
                "required": ["jobs"],
                "properties": {
                    "jobs": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_BATCH_ITEMS,
                        "items": {
                            "allOf": [_ref("schemas", "SubmitRequest")],
                            "properties": {
                                "idempotencyKey": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_IDEMPOTENCY_KEY,
                                }
                            },
                        },
                    }
                },
            }
        ),
    },
    "responses": {
        "200": {
            "description": "Per item: the queued job, or its error and status",
            "content": _json(
                {
                    "type": "object",
                    "required": ["results"],
                    "properties": {
                        "results": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    _ref("schemas", "Submitted"),
                                    {
                                        "type": "object",
                                        "required": ["error", "status"],
                                        "properties": {
                                            "error": {"type": "string"},
                                            "status": {"type": "integer"},
                                        },
                                    },
                                ]
                            },
                        }
                    },
                }
            ),
        },
        **_errors(400, 401, 403, 413, 429, 503),
    },
}

RETRY: dict[str, Any] = {
    "operationId": "retryJob",
    "summary": "Queue a failed or cancelled job again (attempts start over, events go on)",
    "tags": ["jobs"],
    "security": WRITE_SECURITY,
    "responses": {"200": _json_ok("Job", "Queued again"), **_errors(400, 401, 403, 404, 409)},
}

JOB_TYPES: dict[str, Any] = {
    "operationId": "listJobTypes",
    "summary": "The installed job types and their input schemas",
    "tags": ["jobs"],
    "security": READ_SECURITY,
    "responses": {
        "200": {
            "description": "Every installed type",
            "content": _json({"type": "array", "items": _ref("schemas", "JobTypeInfo")}),
        },
        **_errors(401),
    },
}

EVENTS: dict[str, Any] = {
    "operationId": "jobEvents",
    "summary": "The job's events, live (Server-Sent Events)",
    "description": (
        "The first event is the job's current state (`event: status`), then every change "
        "with a larger `id` (`status`, or `progress` and `output` while running). The stream "
        "ends right after the terminal status event. `: ping` comments keep it alive. A "
        "reconnect with `Last-Event-ID` replays every event after it and sends no fresh "
        "snapshot (`Last-Event-ID: 0`: the job's whole history, its output included). Each "
        "`status` and `progress` event's `data` is a `JobEvent`, each `output` event's an "
        "`OutputEvent`."
    ),
    "tags": ["jobs"],
    "security": READ_SECURITY,
    "parameters": [
        {
            "name": "Last-Event-ID",
            "in": "header",
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        },
        {"name": "lastEventId", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ],
    "responses": {
        "200": {
            "description": "An event stream of `JobEvent`s",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **_errors(400, 401, 403),
        "404": {
            "description": 'Unknown job: `event: error` / `data: {"error": "Job not found"}`',
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
}

OUTPUT: dict[str, Any] = {
    "operationId": "getJobOutput",
    "summary": "The job's streamed output so far (Range)",
    "description": (
        "Everything the job's handler wrote with `ctx.output()`, as UTF-8 text; single byte "
        "ranges give 206. The ETag is the output's byte count (it only grows). Output past "
        "`JOB_OUTPUT_MAX_BYTES` was dropped when the job's `outputTruncated` is true."
    ),
    "tags": ["jobs"],
    "security": READ_SECURITY,
    "parameters": [
        {"name": "Range", "in": "header", "schema": {"type": "string"}},
        {"name": "If-Range", "in": "header", "schema": {"type": "string"}},
    ],
    "responses": {
        "200": {
            "description": "The whole output so far (empty before any)",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        "206": {
            "description": "The requested byte range",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **_errors(400, 401, 403, 404),
        "416": {"description": "Range not satisfiable"},
    },
}

OVERVIEW: dict[str, Any] = {
    "operationId": "jobOverview",
    "summary": "The company's jobs counted by status and by type",
    "description": (
        "What the page's overview draws. `submitted` counts every job the company has, "
        "`finished` those that have ended: two answers a few seconds apart give the jobs "
        "submitted and finished per second between their `at`s. Each replica reads it at "
        "most about once a second per company, so an answer may be up to a second old."
    ),
    "tags": ["jobs"],
    "security": READ_SECURITY,
    "responses": {"200": _json_ok("Overview"), **_errors(400, 401, 403, 503)},
}

ASSET_CONTENT: dict[str, Any] = {
    "operationId": "getAssetContent",
    "summary": "An asset's bytes (ETag, If-None-Match, Range)",
    "tags": ["assets"],
    "security": READ_SECURITY,
    "parameters": [
        {"name": "Range", "in": "header", "schema": {"type": "string"}},
        {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
    ],
    "responses": {
        "200": {
            "description": "The bytes, with their `Content-Type`",
            "headers": {"ETag": {"schema": {"type": "string"}}},
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        "206": {
            "description": "The requested range",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        "304": {"description": "Not modified"},
        **_errors(400, 401, 403, 404),
        "416": {"description": "Range not satisfiable"},
    },
}

SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": 'HS256 JWT: `sub`, `companies` (or `["*"]`), optional `exp` and `role`.',
    },
    "cookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "content_jobs_token",
        "description": "GET routes only, for same-site pages.",
    },
    "query": {
        "type": "apiKey",
        "in": "query",
        "name": "access_token",
        "description": "GET routes only, for EventSource; never written to a log.",
    },
}

PARAMETERS: dict[str, Any] = {
    "companyId": {
        "name": "companyId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{COMPANY_ID_PATTERN}$"},
    },
    "jobId": {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string"}},
    "assetId": {"name": "assetId", "in": "path", "required": True, "schema": {"type": "string"}},
    "scheduleId": {
        "name": "scheduleId",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    },
}

ERROR_RESPONSES: dict[str, Any] = {
    str(status): {"description": description, "content": _json(_ref("schemas", "Error"))}
    for status, description in (
        (400, "Bad request"),
        (401, "No valid token"),
        (403, "No access to this company, or a viewer's write"),
        (404, "Not found (also another company's)"),
        (409, "Conflict"),
        (413, "Body over 1 MiB, or `input` over JOB_INPUT_MAX_BYTES"),
        (429, "Too many: the company's waiting jobs (COMPANY_MAX_QUEUED) or a caller's streams"),
        (503, "Database unreachable, or (`:batch`) batches at capacity: retry after `Retry-After`"),
    )
}
ERROR_RESPONSES["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
for _status in ("429", "503"):
    ERROR_RESPONSES[_status]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}


UUID = {"type": "string", "format": "uuid"}
#: a job id, or (in a batch) `@<index>` of an earlier item
DEPENDENCY_PATTERN = "^([0-9a-fA-F-]{32,36}|@[0-9]{1,4})$"
TIME = {"type": "string", "format": "date-time"}
COUNT = {"type": "integer", "minimum": 0}
JOB_FIELDS: dict[str, Any] = {
    "id": UUID,
    "companyId": {"type": "string"},
    "jobType": {"type": "string"},
    "status": _ref("schemas", "Status"),
    "input": {"type": "object"},
    "sourceTaskId": _nullable("string"),
    "progress": _ref("schemas", "Progress"),
    "result": {},
    "resultAssetId": _nullable("string", format="uuid"),
    "errorMessage": _nullable("string"),
    "attempts": {"type": "integer", "minimum": 0},
    "maxAttempts": {"type": "integer", "minimum": 1},
    "priority": {"type": "integer", "minimum": PRIORITY_RANGE[0], "maximum": PRIORITY_RANGE[1]},
    "runAt": {"type": "string", "format": "date-time"},
    "scheduleId": _nullable("string", format="uuid", description="The schedule that made it"),
    "dependsOn": {
        "type": "array",
        "items": UUID,
        "description": "The jobs it runs after, once each is done",
    },
    "waitingOn": {
        "type": "array",
        "items": UUID,
        "description": "Those of `dependsOn` not done yet (empty: runnable)",
    },
    "parentJobId": _nullable(
        "string", format="uuid", description="The job whose handler created it"
    ),
    "outputTruncated": {
        "type": "boolean",
        "description": "Output past JOB_OUTPUT_MAX_BYTES was dropped (GET .../output)",
    },
    "createdAt": TIME,
    "startedAt": _nullable("string", format="date-time"),
    "finishedAt": _nullable("string", format="date-time"),
    "updatedAt": TIME,
}


def _schemas(job_types: JobTypes) -> dict[str, Any]:
    event_fields = ("jobId", "status", "progress", "resultAssetId", "errorMessage")
    return {
        "JobType": {"type": "string", "enum": job_types.names()},
        "Status": {"type": "string", "enum": [status.value for status in Status]},
        "Progress": _object(
            percent={"type": "integer", "minimum": 0, "maximum": 100},
            message=_nullable("string"),
        ),
        "Job": _object(**JOB_FIELDS),
        "JobSummary": _object(
            **{k: v for k, v in JOB_FIELDS.items() if k not in ("input", "result")}
        ),
        "JobEvent": _object(jobId=UUID, **{k: JOB_FIELDS[k] for k in event_fields[1:]}),
        "OutputEvent": _object(
            jobId=UUID,
            offset={"type": "integer", "minimum": 0, "description": "characters before chunk"},
            chunk={"type": "string"},
        ),
        "JobTypeInfo": _object(
            name={"type": "string"},
            description={"type": "string"},
            inputSchema={"type": "object", "description": "JSON Schema 2020-12"},
            timeoutSeconds={"type": "number"},
            maxAttempts={"type": "integer"},
            retry=_object(baseSeconds={"type": "number"}, maxSeconds={"type": "number"}),
            cpuBound={"type": "boolean"},
            paused={"type": "boolean", "description": "an admin paused it: its jobs wait"},
        ),
        "Submitted": _object(
            jobId=UUID,
            status=_ref("schemas", "Status"),  # cancelled: a dependency had failed already
            createdAt=TIME,
        ),
        "Overview": _object(
            byStatus={
                "type": "object",
                "description": "Every status, with how many of the company's jobs have it",
                "properties": {status.value: COUNT for status in Status},
                "required": [status.value for status in Status],
            },
            byType={
                "type": "object",
                "description": "Each job type the company has jobs of: its counts by status",
                "additionalProperties": {"type": "object", "additionalProperties": COUNT},
            },
            submitted={**COUNT, "description": "every job of the company"},
            finished={**COUNT, "description": "the jobs that have ended (done, failed, cancelled)"},
            at={**TIME, "description": "when these were counted"},
        ),
        "Asset": _object(
            id=UUID,
            jobId=UUID,
            contentType={"type": "string"},
            byteSize={"type": "integer", "minimum": 0},
            sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
            createdAt=TIME,
        ),
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
    }


SUBMIT_OPTIONS: dict[str, Any] = {
    "sourceTaskId": {"type": "string", "maxLength": MAX_SOURCE_TASK_ID},
    "runAt": {"type": "string", "format": "date-time", "description": "Start no sooner"},
    "delaySeconds": {"type": "number", "minimum": 0, "maximum": MAX_DELAY_SECONDS},
    "priority": {
        "type": "integer",
        "minimum": PRIORITY_RANGE[0],
        "maximum": PRIORITY_RANGE[1],
        "default": 0,
    },
    "maxAttempts": {
        "type": "integer",
        "minimum": MAX_ATTEMPTS_RANGE[0],
        "maximum": MAX_ATTEMPTS_RANGE[1],
    },
    "callbackUrl": {
        "type": "string",
        "format": "uri",
        "maxLength": MAX_CALLBACK_URL,
        "description": "POSTed the job at its end",
    },
    "dependsOn": {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_DEPENDENCIES,
        "items": {"type": "string", "pattern": DEPENDENCY_PATTERN},
        "description": (
            "Jobs of the company to run after (once each is done; one ending failed or "
            'cancelled cancels this one); in `:batch`, also `"@<index>"` of an earlier item'
        ),
    },
}


def _submit_schemas(job_types: JobTypes) -> dict[str, Any]:
    """`SubmitRequest`: one body schema per installed type, told apart by `jobType`; their
    models' nested definitions become components of their own."""
    schemas: dict[str, Any] = {}
    variants = {}
    for name, job_type in job_types.items():
        component = "Submit_" + "".join(c if c.isalnum() else "_" for c in name)
        schema = job_type.input_model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        variants[name] = component
        schemas[component] = {
            "type": "object",
            "required": ["jobType"],
            "properties": {"jobType": {"const": name}, "input": schema, **SUBMIT_OPTIONS},
        }
    schemas["SubmitRequest"] = {
        "oneOf": [_ref("schemas", component) for component in variants.values()],
        "discriminator": {
            "propertyName": "jobType",
            "mapping": {name: f"#/components/schemas/{c}" for name, c in variants.items()},
        },
    }
    return schemas


def _object(**properties: Any) -> dict[str, Any]:
    """Every listed field is always present (null when empty); more may be added later."""
    return {"type": "object", "required": list(properties), "properties": properties}


SCHEDULES = "/api/companies/{companyId}/schedules"


def _schedule_paths() -> dict[str, Any]:
    """A company's schedules: viewers read, editors write (CONTRACT.md, "Schedules")."""
    company = [_ref("parameters", "companyId")]
    one = [*company, _ref("parameters", "scheduleId")]

    def write(operation_id: str, summary: str, body: str | None, ok: dict[str, Any]) -> Any:
        operation: dict[str, Any] = {
            "operationId": operation_id,
            "summary": summary,
            "tags": ["schedules"],
            "security": WRITE_SECURITY,
            "responses": {**ok, **_errors(400, 401, 403, 404, 409)},
        }
        if body is not None:
            content = _json(_ref("schemas", body))
            operation["requestBody"] = {"required": True, "content": content}
        return operation

    listed = {"description": "OK", "content": _json({"type": "array", "items": SCHEDULE})}
    return {
        SCHEDULES: {
            "parameters": company,
            "post": write(
                "createSchedule",
                "Submit a job on a clock (cron or every N seconds)",
                "ScheduleRequest",
                {"201": _json_ok("Schedule", "Created")},
            ),
            "get": _read("listSchedules", "schedules", "The company's schedules", listed),
        },
        SCHEDULES + "/{scheduleId}": {
            "parameters": one,
            "get": _read("getSchedule", "schedules", "A schedule", _json_ok("Schedule"), 404),
            "patch": write(
                "updateSchedule",
                "Change a schedule's timing, job or pause",
                "SchedulePatch",
                {"200": _json_ok("Schedule")},
            ),
            "delete": write(
                "deleteSchedule",
                "Delete a schedule (its jobs stay)",
                None,
                {"204": {"description": "Deleted"}},
            ),
        },
    }


SCHEDULE = _ref("schemas", "Schedule")
_TIMING: dict[str, Any] = {
    "cron": {
        "type": ["string", "null"],
        "description": "5 fields (minute hour day-of-month month day-of-week), in `timezone`",
    },
    "everySeconds": {
        "type": ["integer", "null"],
        "minimum": EVERY_SECONDS_RANGE[0],
        "maximum": EVERY_SECONDS_RANGE[1],
    },
    "timezone": {"type": "string", "description": "IANA time zone", "default": "UTC"},
    "job": {
        **_ref("schemas", "SubmitRequest"),
        "description": "A submit body (no `runAt`, no `sourceTaskId`: the ticks set them)",
    },
    "paused": {"type": "boolean", "default": False},
}
SCHEDULE_SCHEMAS: dict[str, Any] = {
    "Schedule": _object(
        id=UUID,
        name={"type": "string"},
        **_TIMING,
        nextRunAt=_nullable("string", format="date-time", description="null while paused"),
        lastRunAt=_nullable("string", format="date-time"),
        createdAt=TIME,
    ),
    "ScheduleRequest": {
        "type": "object",
        "required": ["name", "job"],
        "description": "Exactly one of `cron` and `everySeconds`.",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_SCHEDULE_NAME},
            **_TIMING,
        },
    },
    "SchedulePatch": {
        "type": "object",
        "description": "Any of these; `cron` replaces `everySeconds` and the other way round.",
        "properties": _TIMING,
    },
}
