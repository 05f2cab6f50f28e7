"""`GET /openapi.json`: a valid OpenAPI 3.1 document of every route, and the server survives it.

docs/api.md: `GET /openapi.json` (no token) is "OpenAPI 3.1 of everything above".
The fuzz test sends what the document allows (and what it does not) to the
running server and asserts it never answers 5xx, nor anything the document
does not describe.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from aiohttp import web
from openapi_spec_validator import validate
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.api.openapi import document
from service.jobtypes import load
from tests.conftest import Client, auth

Operation = APIOperation[Any, Any, Any, Any]
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
FUZZ = hypothesis.settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def registered(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, but its static files and HEAD twins."""
    return {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method in METHODS
        and not route.resource.canonical.startswith("/static")
    }


def documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method.upper() in METHODS
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = document(load())
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_job_types_come_from_the_registry() -> None:
    doc = document(load())
    assert doc["components"]["schemas"]["JobType"]["enum"] == load().names()
    assert "sleep" in load().names()


def test_it_describes_every_route_of_the_contract() -> None:
    paths = set(document(load())["paths"])
    jobs = "/api/companies/{companyId}/content-jobs"
    assets = "/api/companies/{companyId}/assets/{assetId}"
    assert paths == {
        jobs,
        jobs + ":batch",
        jobs + "/{jobId}",
        jobs + "/{jobId}/cancel",
        jobs + "/{jobId}/retry",
        jobs + "/{jobId}/events",
        jobs + "/{jobId}/output",
        jobs + ":retry",
        jobs + ":overview",
        "/api/job-types",
        "/api/job-types/{name}/pause",
        "/api/job-types/{name}/resume",
        "/api/companies/{companyId}/webhook-secret",
        "/api/companies/{companyId}/webhook-secret:rotate",
        "/api/companies/{companyId}/schedules",
        "/api/companies/{companyId}/schedules/{scheduleId}",
        assets,
        assets + "/content",
        "/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    }
    events = document(load())["paths"][jobs + "/{jobId}/events"]["get"]
    assert "text/event-stream" in events["responses"]["200"]["content"]


def test_reads_accept_every_token_kind_and_writes_only_the_header() -> None:
    doc = document(load())
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "cookie", "query"}
    for method, path in documented(doc):
        security = doc["paths"][path][method.lower()]["security"]
        if not path.startswith("/api/"):
            assert security == []
        elif method == "GET":
            assert {name for item in security for name in item} == {"bearer", "cookie", "query"}
        else:
            assert security == [{"bearer": []}]


async def test_every_registered_route_is_documented(client: Client) -> None:
    assert registered(client.app) <= documented(document(load()))


async def test_it_is_served_without_a_token(client: Client) -> None:
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == document(load())


# its time grows with the operations (up to 50 cases each): 45 s alone on a shared 2-core
# machine, past 180 s there beside three other xdist workers; the timeout is a hang guard
@pytest.mark.timeout(420)
async def test_fuzzing_the_api_routes_finds_no_server_error_and_no_drift(client: Client) -> None:
    """Every documented /api operation this server registers, but the endless event stream.

    Beyond "no 5xx", each answer must match the document (status, content type,
    headers, body schema), so the document cannot drift from the server.
    """
    served = registered(client.app)
    operations = []
    for result in schemathesis.openapi.from_dict(document(load())).get_all_operations():
        assert isinstance(result, Ok), result
        op = result.ok()
        if (op.method.upper(), op.path) in served and op.path.startswith("/api/"):
            operations.append(op)
    operations = [op for op in operations if not op.path.endswith("/events")]
    assert len(operations) >= 4
    base_url = str(client.make_url("")).rstrip("/")
    failures = await asyncio.to_thread(fuzz_all, operations, base_url)
    assert failures == []


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz_all(operations: list[Operation], base_url: str) -> list[str]:
    failures: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, base_url, session, failures)
    return failures


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    base_url: str,
    session: requests.Session,
    failures: list[str],
) -> None:
    """Up to 25 cases, the same ones every run; failures are collected, not raised, so one
    run reports them all (and Hypothesis spends no time shrinking)."""
    headers = auth("acme")
    strategy = operation.as_strategy(mode, path_parameters={"companyId": "acme"}, headers=headers)

    @FUZZ
    @hypothesis.given(case=strategy)
    def run(case: Case[Operation]) -> None:
        try:
            case.call_and_validate(
                base_url=base_url, session=session, headers=headers, checks=CHECKS
            )
        except (Failure, FailureGroup) as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to negate (only a free-form path parameter, the company being fixed).
        assert mode is GenerationMode.NEGATIVE, operation.path
