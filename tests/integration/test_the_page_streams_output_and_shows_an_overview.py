"""The page in Chromium, as issue 20 asks of it: a job's output streams in live, the overview
counts the company's jobs and charts them per second, job ids are told apart, and a job that
waits says why and until when. Screenshots of the overview, a streaming job and a failed job
are checked for what they show: their pixels, and the page's text when they were taken."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import Client, MakeClient, auth, make_token
from tests.integration.helpers import jobs_path, submit
from tests.integration.test_the_page_in_chromium import (  # noqa: F401 (fixtures)
    CHROMIUM,
    accept,
    page,
    playwright_api,
)
from tests.png import read_png

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

#: a `text.typewriter` job of about 4 s, a chunk every 90 ms
TYPED = "".join(f"line {n}: streamed to the page as it is written\n" for n in range(8))
TYPEWRITER = {"text": TYPED, "chunkChars": 9, "delayMs": 90}
#: the same over about 11 s: still running while the overview is checked
SLOW_TYPEWRITER = {**TYPEWRITER, "delayMs": 250}
#: what the failed row's status badge is painted with (style.css): background and text
FAILED_BADGE = ((0xFE, 0xE2, 0xE2), (0xB9, 0x1C, 0x1C))
#: records, on every change of the first row's output, its length and the row's status
RECORD_OUTPUT = """() => {
  window.seen = [];
  const observer = new MutationObserver(() => {
    const row = document.querySelector('#jobs tr[data-job-id]');
    if (!row) return;
    const text = row.querySelector('.output').textContent;
    window.seen.push({ length: text.length, text, status: row.dataset.status });
  });
  const all = { childList: true, subtree: true, characterData: true };
  observer.observe(document.getElementById('jobs'), all);
}"""


@pytest.fixture
async def server(make_client: MakeClient) -> Client:
    return await make_client(role="all")


@pytest.fixture
async def opened(server: Client, page: Any) -> AsyncIterator[Any]:  # noqa: F811
    """The page on company acme, with its script errors collected: a test fails on any."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if script_error(m) else None)
    await open_page(server, page)
    yield page
    assert errors == []


def script_error(message: Any) -> bool:
    """An error on the console, but the browser's own asking for /favicon.ico (404)."""
    return bool(message.type == "error" and not message.location["url"].endswith("/favicon.ico"))


async def open_page(server: Client, page: Any) -> None:  # noqa: F811
    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={make_token('acme')}#company=acme")
    await playwright_api.expect(page.locator("#overview")).to_be_visible()
    # the company's jobs are listed: a row counted before would miss the ones still coming
    await playwright_api.expect(page.locator("#jobs")).to_have_attribute("aria-busy", "false")


async def submit_in_page(page: Any, job_type: str, job_input: dict[str, Any]) -> Any:  # noqa: F811
    before = await page.locator("#jobs tr[data-job-id]").count()
    await page.select_option("#job-type", job_type)
    await page.fill("#job-input", json.dumps(job_input))
    await page.click("#submit")
    rows = page.locator("#jobs tr[data-job-id]")
    await playwright_api.expect(rows).to_have_count(before + 1, timeout=10_000)
    return rows.first


async def wait_until_ended(server: Client, job_id: str) -> None:
    for _ in range(200):
        resp = await server.get(f"{jobs_path()}/{job_id}", headers=auth())
        if (await resp.json())["status"] in ("done", "failed", "cancelled"):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} never ended")


async def shoot(page: Any, element: Any, path: Path) -> Any:  # noqa: F811
    """A screenshot of the viewport's part that `element` fills now (a streaming row grows
    while an element screenshot waits for it to settle); it has that size (device scale 1)
    and is not blank. Its pixels."""
    await element.scroll_into_view_if_needed()
    box = await element.bounding_box()
    await page.screenshot(path=str(path), clip=box)
    image = read_png(path.read_bytes())
    # a fractional box is rounded at both ends
    assert abs(image.width - box["width"]) < 2 and abs(image.height - box["height"]) < 2
    assert image.width > 10 and image.height > 10, box
    assert len(image.colours()) > 8, f"{path.name} is (nearly) one colour"
    return image


async def test_a_typewriter_jobs_output_appears_progressively(opened: Any) -> None:
    """Issue 20, item 6: the output is on the page while the job runs, a piece at a time, each
    a beginning of the text, before the whole of it when the job is done."""
    await opened.evaluate(RECORD_OUTPUT)
    row = await submit_in_page(opened, "text.typewriter", TYPEWRITER)
    expect = playwright_api.expect
    await expect(row.locator(".status")).to_have_text("done", timeout=20_000)
    await expect(row.locator(".output")).to_have_text(TYPED)
    seen = await opened.evaluate("window.seen")
    while_running = sorted({s["length"] for s in seen if s["status"] == "running" and s["length"]})
    assert len(while_running) >= 5, while_running  # ~45 chunks in ~4 s: many a write
    assert while_running[0] < len(TYPED) / 2
    assert all(TYPED.startswith(s["text"]) for s in seen)


async def test_screenshots_of_the_overview_a_streaming_job_and_a_failed_job(
    server: Client,
    page: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    for _ in range(3):
        await submit(server, {"jobType": "echo", "input": {"n": 1}})
    failed = await submit(
        server, {"jobType": "sleep", "input": {"seconds": 0, "steps": 2, "failAtStep": 1}}
    )
    await wait_until_ended(server, failed["jobId"])
    await submit(server, {"jobType": "echo"}, company="globex", headers=auth("globex"))
    await open_page(server, page)
    expect = playwright_api.expect

    # a streaming job, shot while it streams
    row = await submit_in_page(page, "text.typewriter", SLOW_TYPEWRITER)
    await page.wait_for_function(
        "() => { const row = document.querySelector('#jobs tr[data-job-id]');"
        " return row.dataset.status === 'running'"
        " && row.querySelector('.output').textContent.length > 20; }",
        timeout=15_000,
    )
    await shoot(page, row, tmp_path / "streaming.png")
    shown = await row.locator(".output").text_content()
    assert shown and TYPED.startswith(shown) and len(shown) < len(TYPED)
    assert await row.locator(".status").text_content() == "running"

    # the overview, once it counts every job of acme (and none of globex's) and has charted
    counts = page.locator("#status-counts")
    await expect(counts.locator("li[data-status=done] b")).to_have_text("3", timeout=10_000)
    await expect(counts.locator("li[data-status=failed] b")).to_have_text("1")
    await expect(counts.locator("li[data-status=running] b")).to_have_text("1")
    echo = page.locator("#type-counts tr[data-job-type=echo]")
    await expect(echo.locator("td[data-status=done]")).to_have_text("3")
    await expect(echo.locator("td").last).to_have_text("3")  # all, globex's left out
    await expect(page.locator("#type-counts tr[data-job-type='text.typewriter']")).to_have_count(1)
    await page.wait_for_function(
        "() => document.querySelector('#rate-chart .submitted').getAttribute('points') !== ''",
        timeout=10_000,
    )
    image = await shoot(page, page.locator("#overview"), tmp_path / "overview.png")
    assert await counts.locator("li[data-status=done] b").text_content() == "3"
    assert await counts.locator("li[data-status=running] b").text_content() == "1"
    assert image.share((0x25, 0x63, 0xEB), tolerance=40) > 0  # the submitted line (blue)

    # the failed job, its error and its red badge
    failed_row = page.locator(f'#jobs tr[data-job-id="{failed["jobId"]}"]')
    await expect(failed_row.locator(".error")).to_have_text("failed at step 1")
    await shoot(page, failed_row, tmp_path / "failed.png")
    assert await failed_row.locator(".status").text_content() == "failed"
    assert await failed_row.locator(".error").text_content() == "failed at step 1"
    pixels = await shoot(page, failed_row.locator(".status"), tmp_path / "failed-badge.png")
    background, text = FAILED_BADGE
    assert pixels.share(background) > 0.5, "the failed badge is not its pale red"
    assert pixels.share(text, tolerance=60) > 0.02, "the failed badge's text is not red"
    await expect(row.locator(".output")).to_have_text(TYPED, timeout=20_000)


async def test_the_chart_shows_a_burst_of_submissions_per_second(
    server: Client,
    opened: Any,
) -> None:
    """Twenty jobs submitted at once read as a peak of several a second (the page divides
    the overview's totals by the time between them)."""
    await opened.wait_for_function(
        "() => document.querySelector('#rate-chart .submitted').getAttribute('points') !== ''",
        timeout=10_000,
    )
    resp = await server.post(
        jobs_path() + ":batch", json={"jobs": [{"jobType": "echo"}] * 20}, headers=auth()
    )
    assert resp.status == 200
    await opened.wait_for_function(
        "() => Number(document.getElementById('rate-peak').textContent) >= 5", timeout=10_000
    )
    await playwright_api.expect(
        opened.locator("#status-counts li[data-status=done] b")
    ).to_have_text("20", timeout=10_000)


async def test_job_ids_are_told_apart_by_their_random_tail(server: Client, opened: Any) -> None:
    """UUIDv7 ids of the same minute share their first 8 characters (the time): the rows show
    the last 8, and the whole id in the title."""
    ids = [(await submit(server, {"jobType": "echo"}))["jobId"] for _ in range(3)]
    await opened.click("#refresh")
    for job_id in ids:
        shown = opened.locator(f'#jobs tr[data-job-id="{job_id}"] .job-id')
        await playwright_api.expect(shown).to_have_text(f"…{job_id[-8:]}", timeout=10_000)
        await playwright_api.expect(shown).to_have_attribute("title", job_id)
    assert len({job_id[-8:] for job_id in ids}) == 3


async def test_waiting_delayed_and_retrying_jobs_say_why_and_until_when(
    client: Client,
    page: Any,  # noqa: F811
    db: asyncpg.Connection[Any],
) -> None:
    """Nothing runs here (role api): each job stays in the state it was put in."""
    delayed = (await submit(client, {"jobType": "echo", "delaySeconds": 3600}))["jobId"]
    resp = await client.post(
        jobs_path() + ":batch",
        json={"jobs": [{"jobType": "echo"}, {"jobType": "echo", "dependsOn": ["@0"]}]},
        headers=auth(),
    )
    ready, dependent = [r["jobId"] for r in (await resp.json())["results"]]
    retrying = await db.fetchval(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts, attempts,"
        " error_message, run_at) VALUES (gen_random_uuid(), 'acme', 'echo', '{}', 3, 1,"
        " 'connection reset', now() + interval '10 minutes') RETURNING id::text"
    )
    await open_page(client, page)
    expect = playwright_api.expect

    def row(job_id: str) -> Any:
        return page.locator(f'#jobs tr[data-job-id="{job_id}"]')

    # the time, after the date when that is another day (an hour ahead, past 23:00 UTC)
    clock = r"(\S+ )?\d\d:\d\d:\d\d"
    await expect(row(delayed).locator(".status")).to_have_text("delayed", timeout=10_000)
    await expect(row(delayed).locator(".why")).to_have_text(
        re.compile(rf"^delayed until {clock} \(in (59|60) min\)$")
    )
    await expect(row(retrying).locator(".status")).to_have_text("retrying")
    await expect(row(retrying).locator(".why")).to_have_text(
        re.compile(
            rf"^retrying after attempt 1 of 3 failed: connection reset, next try at {clock}"
            r" \(in (9|10) min\)$"
        )
    )
    await expect(row(dependent).locator(".status")).to_have_text("waiting on 1 job")
    await expect(row(dependent).locator(".why")).to_have_text(
        "starts once the 1 job it depends on is done"
    )
    await expect(row(ready).locator(".status")).to_have_text("queued")
    await expect(row(ready).locator(".why")).to_have_text(
        re.compile(rf"^ready since {clock}, waiting for a worker$")
    )
