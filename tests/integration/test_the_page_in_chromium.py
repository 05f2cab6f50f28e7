"""The page at `/` in a real headless Chromium: submit, watch live bars over EventSource."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Client, MakeClient, make_token

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.async_api")

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]

# Flags for a closed network: no background fetches, no first-run, no sandbox as root.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = await browser.new_context()
        page = await context.new_page()
        yield page
        await context.close()
        await browser.close()


@pytest.fixture
async def server(make_client: MakeClient) -> Client:
    return await make_client(role="all")


async def accept(dialog: Any) -> None:
    await dialog.accept()


@pytest.fixture
async def signed_in(server: Client, page: Any) -> Any:
    """The page opened with a token in its URL (as `make run` prints it), adopted after the
    user accepts, company acme."""
    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={make_token('acme')}")
    await page.fill("#company", "acme")
    # the company's jobs are listed (`submit` below counts the rows before and after)
    await playwright_api.expect(page.locator("#jobs")).to_have_attribute("aria-busy", "false")
    return page


async def submit(page: Any, job_input: str) -> Any:
    """Submit a sleep job through the form; the page shows it as a row of its own."""
    before = await page.locator("#jobs tr[data-job-id]").count()
    await page.select_option("#job-type", "sleep")
    await page.fill("#job-input", job_input)
    await page.click("#submit")
    rows = page.locator("#jobs tr[data-job-id]")
    await playwright_api.expect(rows).to_have_count(before + 1, timeout=10_000)
    return rows.first


async def test_page_submits_and_shows_live_progress_to_done(signed_in: Any) -> None:
    row = await submit(signed_in, '{"seconds": 1.5, "steps": 5}')
    expect = playwright_api.expect
    # the bar moves while the job runs, then reaches 100 % as the status turns done
    await expect(row.locator(".status")).to_have_text("running", timeout=10_000)
    await expect(row.locator(".status")).to_have_text("done", timeout=15_000)
    assert await row.locator("progress").get_attribute("value") == "100"
    await expect(row.locator(".percent")).to_have_text("100%")
    await expect(row.locator(".error")).to_have_text("")


async def test_page_shows_a_failed_jobs_error(signed_in: Any) -> None:
    row = await submit(signed_in, '{"seconds": 0.4, "steps": 4, "failAtStep": 3}')
    expect = playwright_api.expect
    await expect(row.locator(".status")).to_have_text("failed", timeout=15_000)
    await expect(row.locator(".error")).to_have_text("failed at step 3")


async def test_page_retries_a_failed_job_and_shows_its_attempts(signed_in: Any) -> None:
    row = await submit(signed_in, '{"seconds": 0, "steps": 1, "failAtStep": 1}')
    expect = playwright_api.expect
    await expect(row.locator(".status")).to_have_text("failed", timeout=15_000)
    await expect(row.locator(".attempts")).to_have_text("attempt 1 of 3")
    await expect(row.locator(".retry")).to_be_visible()
    await row.locator(".retry").click()
    # the retried run's events arrive on the same row, to its new failure
    await signed_in.wait_for_function(
        "() => { const row = document.querySelector('#jobs tr');"
        " return Number(row.dataset.lastEventId) > 3 && row.dataset.status === 'failed'; }",
        timeout=15_000,
    )
    await expect(row.locator(".attempt-errors li")).to_have_count(0)


async def test_type_picker_and_template_come_from_the_api(signed_in: Any) -> None:
    expect = playwright_api.expect
    options = signed_in.locator("#job-type option")
    await expect(options).to_have_count(5)
    assert await options.all_inner_texts() == [
        "echo",
        "markdown.html",
        "sleep",
        "test",
        "text.typewriter",
    ]
    await signed_in.select_option("#job-type", "sleep")
    await expect(signed_in.locator("#job-input")).to_have_value(
        '{"seconds":1,"steps":10,"failAttempts":0}'
    )
    await signed_in.select_option("#job-type", "markdown.html")
    await expect(signed_in.locator("#job-input")).to_have_value('{"markdown":""}')


async def test_a_link_does_not_silently_replace_the_saved_token(server: Client, page: Any) -> None:
    mine, theirs = make_token("acme"), make_token("globex")
    page.once("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={mine}")
    asked: list[str] = []

    async def refuse(dialog: Any) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", refuse)
    await page.goto(f"{server.make_url('/')}?access_token={theirs}")
    assert await page.input_value("#token") == mine
    assert asked and "globex" in asked[0]
    assert "access_token" not in page.url


async def test_a_linked_token_is_adopted_only_after_the_user_accepts(
    server: Client, page: Any
) -> None:
    """Even with no token saved, a link's token is not taken silently: declined, the page
    has no token; accepted, it has the link's."""
    theirs = make_token("globex")
    asked: list[str] = []

    async def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        await (dialog.accept() if len(asked) == 2 else dialog.dismiss())

    page.on("dialog", answer)
    await page.goto(f"{server.make_url('/')}?access_token={theirs}")
    await page.wait_for_function("() => document.readyState === 'complete'")
    assert len(asked) == 1 and "globex" in asked[0]
    assert await page.input_value("#token") == ""
    assert await page.evaluate("localStorage.getItem('content-jobs.token')") in (None, "")
    assert "access_token" not in page.url
    await page.goto(f"{server.make_url('/')}?access_token={theirs}")
    await page.wait_for_function("() => document.readyState === 'complete'")
    assert len(asked) == 2
    assert await page.input_value("#token") == theirs


async def test_event_streams_carry_no_token_in_their_url(signed_in: Any) -> None:
    """EventSource sends the same-site cookie; the token is in no stream's URL."""
    streams: list[str] = []
    signed_in.on(
        "request", lambda request: streams.append(request.url) if "/events" in request.url else None
    )
    row = await submit(signed_in, '{"seconds": 0.6, "steps": 3}')
    expect = playwright_api.expect
    await expect(row.locator(".status")).to_have_text("done", timeout=15_000)
    await expect(row.locator(".percent")).to_have_text("100%")
    assert streams
    assert not [url for url in streams if "access_token" in url]
    cookies = await signed_in.context.cookies()
    [cookie] = [c for c in cookies if c["name"] == "content_jobs_token"]
    assert cookie["sameSite"] == "Strict" and cookie["path"].startswith("/api")


async def test_the_company_in_the_link_is_shown(server: Client, page: Any) -> None:
    """`#company=` in the dev link opens the page on that company's jobs; a token for every
    company gets a company field that says to type an id."""
    resp = await server.post(
        "/api/companies/globex/content-jobs",
        json={"jobType": "echo"},
        headers={"Authorization": f"Bearer {make_token('*')}"},
    )
    job_id = (await resp.json())["jobId"]
    page.on("dialog", accept)
    await page.goto(f"{server.make_url('/')}?access_token={make_token('*')}#company=globex")
    expect = playwright_api.expect
    await expect(page.locator("#company")).to_have_value("globex")
    await expect(page.locator(f'#jobs tr[data-job-id="{job_id}"]')).to_have_count(1)
    assert "company=" not in page.url
    await expect(page.locator("#company")).to_have_attribute("placeholder", "type a company id")
    await expect(page.locator("#company-help")).to_contain_text("type the id of the company")


async def test_result_links_carry_no_token(signed_in: Any) -> None:
    expect = playwright_api.expect
    await signed_in.select_option("#job-type", "markdown.html")
    await signed_in.fill("#job-input", '{"markdown": "# Hello"}')
    await signed_in.click("#submit")
    row = signed_in.locator("#jobs tr[data-job-id]").first
    await expect(row.locator(".status")).to_have_text("done", timeout=15_000)
    href = await row.locator(".result a").get_attribute("href")
    assert href is not None and "access_token" not in href
    response = await signed_in.goto(f"{signed_in.url.split('?')[0]}{href}")
    assert response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "Hello" in await signed_in.content()


async def test_page_lists_each_failed_attempt(signed_in: Any) -> None:
    row = await submit(signed_in, '{"seconds": 0, "steps": 1, "failAttempts": 2}')
    expect = playwright_api.expect
    await expect(row.locator(".status")).to_have_text("done", timeout=20_000)
    await expect(row.locator(".attempt-errors li")).to_have_text(
        ["transient failure on attempt 1", "transient failure on attempt 2"]
    )
    await expect(row.locator(".attempts")).to_have_text("attempt 3 of 3")


#: a `text.typewriter` job of about 4 s: long enough to be seen while it streams
TYPED = "".join(f"line {n}: streamed to the page as it is written\n" for n in range(8))
TYPEWRITER_INPUT = json.dumps({"text": TYPED, "chunkChars": 9, "delayMs": 90})
#: the row is running and part of its output is on the page already
STREAMING = (
    "() => { const row = document.querySelector('#jobs tr[data-job-id]');"
    " return row && row.dataset.status === 'running'"
    " && row.querySelector('.output').textContent.length > 0; }"
)


async def test_page_streams_a_typewriter_jobs_output_live(signed_in: Any, tmp_path: Path) -> None:
    """Issue 20: the page shows a job's output as it streams, under the job, and then all of
    it. The screenshot is of the job while it streams; what it shows is checked in the DOM."""
    expect = playwright_api.expect
    await signed_in.select_option("#job-type", "text.typewriter")
    await signed_in.fill("#job-input", TYPEWRITER_INPUT)
    await signed_in.click("#submit")
    row = signed_in.locator("#jobs tr[data-job-id]").first
    output = row.locator(".output")
    await signed_in.wait_for_function(STREAMING, timeout=15_000)
    shot = tmp_path / "streaming.png"
    await row.screenshot(path=str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG")
    await expect(output).to_be_visible()
    await expect(row.locator(".job-type")).to_have_text("text.typewriter")
    shown = await output.text_content()
    assert shown and TYPED.startswith(shown)  # a beginning of the text, nothing else
    await expect(row.locator(".status")).to_have_text("done", timeout=20_000)
    await expect(output).to_have_text(TYPED)
    box = await output.bounding_box()
    assert box is not None and box["height"] > 0


async def test_a_reloaded_page_shows_the_output_written_before_it_looked(
    signed_in: Any,
) -> None:
    expect = playwright_api.expect
    await signed_in.select_option("#job-type", "text.typewriter")
    await signed_in.fill("#job-input", TYPEWRITER_INPUT)
    await signed_in.click("#submit")
    await signed_in.wait_for_function(STREAMING, timeout=15_000)
    await signed_in.reload()
    row = signed_in.locator("#jobs tr[data-job-id]").first
    await expect(row.locator(".status")).to_have_text("done", timeout=20_000)
    await expect(row.locator(".output")).to_have_text(TYPED)
