"""`GET /openapi.json` states the statuses, limits and version the server has, read from
their one definition (`service/domain/jobs.py`, `service/domain/limits.py`, the package's
metadata), not from copies of its own."""

from __future__ import annotations

import importlib.metadata
from typing import Any

from service.domain import limits
from service.domain.jobs import Status
from tests.conftest import Client

JOBS = "/api/companies/{companyId}/content-jobs"


async def test_the_document_states_the_domains_statuses_limits_and_version(
    client: Client,
) -> None:
    doc: dict[str, Any] = await (await client.get("/openapi.json")).json()
    assert doc["info"]["version"] == importlib.metadata.version("content-jobs")
    schemas = doc["components"]["schemas"]
    assert schemas["Status"]["enum"] == [status.value for status in Status]

    page = {p["name"]: p["schema"] for p in doc["paths"][JOBS]["get"]["parameters"]}["limit"]
    assert (page["minimum"], page["maximum"]) == (1, limits.MAX_PAGE_SIZE)
    assert page["default"] == limits.DEFAULT_PAGE_SIZE

    submit = doc["paths"][JOBS]["post"]
    key = {p["name"]: p["schema"] for p in submit["parameters"]}["Idempotency-Key"]
    assert (key["minLength"], key["maxLength"]) == (1, limits.MAX_IDEMPOTENCY_KEY)

    batch = doc["paths"][JOBS + ":batch"]["post"]
    jobs = batch["requestBody"]["content"]["application/json"]["schema"]["properties"]["jobs"]
    assert jobs["maxItems"] == limits.MAX_BATCH_ITEMS
    assert f"{limits.MAX_BATCH_ITEMS:,}" in batch["summary"]
    assert jobs["items"]["properties"]["idempotencyKey"]["maxLength"] == limits.MAX_IDEMPOTENCY_KEY

    options = schemas["Submit_sleep"]["properties"]
    assert options["sourceTaskId"]["maxLength"] == limits.MAX_SOURCE_TASK_ID
    assert options["callbackUrl"]["maxLength"] == limits.MAX_CALLBACK_URL
    for name, (low, high) in (
        ("priority", limits.PRIORITY_RANGE),
        ("maxAttempts", limits.MAX_ATTEMPTS_RANGE),
    ):
        assert (options[name]["minimum"], options[name]["maximum"]) == (low, high)
    company = doc["components"]["parameters"]["companyId"]["schema"]["pattern"]
    assert company == f"^{limits.COMPANY_ID_PATTERN}$"
