"""The page at `/` lists the company's schedules (name, job type, timing, next tick)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Client, MakeClient, auth, make_token
from tests.integration.test_the_page_in_chromium import CHROMIUM, accept, page  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


async def test_the_page_lists_the_companys_schedules(
    make_client: MakeClient,
    page: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    server: Client = await make_client()
    for body in (
        {"name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin"},
        {"name": "often", "everySeconds": 30, "paused": True},
    ):
        resp = await server.post(
            "/api/companies/acme/schedules",
            json={**body, "job": {"jobType": "echo"}},
            headers=auth(),
        )
        assert resp.status == 201
    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={make_token('acme')}&company=acme")
    await page.fill("#company", "acme")
    await page.dispatch_event("#company", "change")
    items = page.locator("#schedules li")
    await items.nth(1).wait_for()
    texts = await items.all_text_contents()
    assert texts[0].startswith("nightly: echo, cron 30 2 * * * (Europe/Berlin), next ")
    assert texts[1] == "often: echo, every 30 s, paused"
    assert await page.locator("#no-schedules").is_hidden()
