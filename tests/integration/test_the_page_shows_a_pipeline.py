"""The page (headless Chromium): a waiting job says what it waits for ("waiting on 1 job",
not a bare "queued"), its dependencies and a job's children are links to their rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Client, make_token
from tests.integration.test_the_page_in_chromium import (  # noqa: F401 (fixtures)
    CHROMIUM,
    accept,
    page,
    playwright_api,
    server,
)

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


async def test_a_waiting_job_and_its_links(server: Client, page: Any, db: Any) -> None:  # noqa: F811
    headers = {"Authorization": f"Bearer {make_token('acme')}"}
    jobs = [
        {"jobType": "sleep", "input": {"seconds": 1.5, "steps": 3}},
        {"jobType": "echo", "dependsOn": ["@0"]},
    ]
    resp = await server.post(
        "/api/companies/acme/content-jobs:batch", json={"jobs": jobs}, headers=headers
    )
    first, second = [r["jobId"] for r in (await resp.json())["results"]]
    child = uuid.uuid4()  # a child of the first job, written behind the API
    await db.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, max_attempts, parent_job_id)"
        " VALUES ($1, 'acme', 'test', 1, $2)",
        child,
        uuid.UUID(first),
    )

    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={make_token('acme')}")
    await page.fill("#company", "acme")
    expect = playwright_api.expect
    waiting = page.locator(f'#jobs tr[data-job-id="{second}"]')
    await expect(waiting.locator(".status")).to_have_text("waiting on 1 job", timeout=10_000)
    link = waiting.locator(".depends-on a.job-link")
    await expect(link).to_have_attribute("data-job-id", first)

    parent = page.locator(f'#jobs tr[data-job-id="{first}"]')
    children = parent.locator(".children a.job-link")
    await expect(children).to_have_attribute("data-job-id", str(child), timeout=10_000)
    await expect(waiting.locator(".status")).to_have_text("done", timeout=20_000)
