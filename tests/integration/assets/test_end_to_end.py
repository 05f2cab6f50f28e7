"""A content job's result end to end: submit markdown.html, follow it, download the document."""

from __future__ import annotations

import asyncio
import hashlib
from html.parser import HTMLParser

from tests.conftest import Client, auth
from tests.sse import collect

JOBS = "/api/companies/acme/content-jobs"


class Titles(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


async def test_markdown_job_result_is_downloadable(worker_client: Client) -> None:
    """resultAssetId is set with `done` (one transaction) and names the rendered document."""
    body = {
        "jobType": "markdown.html",
        "input": {"title": "Report", "markdown": "# Hello\n\n<script>alert(1)</script>\n"},
    }
    resp = await worker_client.post(JOBS, json=body, headers=auth())
    job_id = (await resp.json())["jobId"]
    async with worker_client.get(f"{JOBS}/{job_id}/events", headers=auth()) as stream:
        events = await asyncio.wait_for(collect(stream), 10)
    done = events[-1].data
    assert done["status"] == "done", done
    asset_id = done["resultAssetId"]
    assert asset_id is not None
    # every earlier event has no asset: it appears with `done`, never before
    assert all(e.data["resultAssetId"] is None for e in events[:-1])

    job = await (await worker_client.get(f"{JOBS}/{job_id}", headers=auth())).json()
    assert job["resultAssetId"] == asset_id
    assert job["result"]["assetId"] == asset_id

    meta_resp = await worker_client.get(f"/api/companies/acme/assets/{asset_id}", headers=auth())
    meta = await meta_resp.json()
    assert meta["jobId"] == job_id
    assert meta["contentType"] == "text/html; charset=utf-8"
    content = await worker_client.get(
        f"/api/companies/acme/assets/{asset_id}/content", headers=auth()
    )
    assert content.status == 200
    assert content.headers["X-Content-Type-Options"] == "nosniff"
    data = await content.read()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert len(data) == meta["byteSize"]
    parser = Titles()
    parser.feed(data.decode())
    assert "title" in parser.tags
    assert "h1" in parser.tags
    assert "script" not in parser.tags
    assert "&lt;script&gt;" in data.decode()
