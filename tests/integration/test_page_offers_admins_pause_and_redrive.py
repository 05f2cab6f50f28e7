"""The page's admin section, in a real headless Chromium: shown to a token with role admin
only; it pauses and resumes a job type and queues the company's failed jobs again."""

from __future__ import annotations

from typing import Any

import pytest

from service.api.auth import issue_token
from service.db.store import Store
from tests.conftest import SECRET, Client, make_token
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


async def open_with(server: Client, page: Any, token: str) -> None:  # noqa: F811
    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={token}")
    await page.fill("#company", "acme")
    await page.locator("#company").dispatch_event("change")


async def test_an_admin_pauses_resumes_and_redrives(
    server: Client,  # noqa: F811
    page: Any,  # noqa: F811
    store: Store,
) -> None:
    await open_with(server, page, issue_token(SECRET, ["*"], sub="ops", admin=True))
    expect = playwright_api.expect
    await expect(page.locator("#admin")).to_be_visible()
    await expect(page.locator("#admin-type option[value=sleep]")).to_have_count(1)
    await page.select_option("#admin-type", "sleep")
    await page.click("#pause")
    await expect(page.locator("#admin-notice")).to_have_text("sleep paused: its jobs stay queued")
    assert await store.paused_job_types() == {"sleep"}
    await expect(page.locator("#admin-type option[value=sleep]")).to_have_text("sleep (paused)")
    await page.click("#resume")
    await expect(page.locator("#admin-notice")).to_have_text("sleep resumed")
    assert await store.paused_job_types() == set()

    await store.pool.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts, status,"
        " finished_at) VALUES (gen_random_uuid(), 'acme', 'echo', '{}', 1, 'failed', now())"
    )
    await page.select_option("#redrive-status", "failed")
    await page.click("#redrive")
    await expect(page.locator("#admin-notice")).to_have_text("1 failed jobs queued again")


async def test_an_editor_sees_no_admin_section(server: Client, page: Any) -> None:  # noqa: F811
    await open_with(server, page, make_token("acme"))
    await playwright_api.expect(page.locator("#access")).to_be_visible()
    assert await page.locator("#admin").is_hidden()
