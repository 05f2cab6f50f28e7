"""docs/api.md, job type `markdown.html`: input `{"markdown", "title"?}` checked at submit;
a complete HTML document, raw HTML escaped, stored as a `text/html; charset=utf-8` asset.

Each document is rendered by a real worker (role `all`): the CPU-bound handler runs in
the worker's process pool, the runner stores the asset, and the document is then
fetched through the asset routes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from html.parser import HTMLParser
from typing import Any

import pytest

from service.worker.runner import RUNNER
from tests.conftest import Client, MakeClient, auth

JOBS = "/api/companies/acme/content-jobs"
VOID = {"meta", "link", "br", "hr", "img", "input", "source", "wbr", "col", "area", "base"}


class Document(HTMLParser):
    """What a browser would see: the doctype, elements in order, text, and nesting errors."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype: str | None = None
        self.tags: list[str] = []
        self.texts: dict[str, list[str]] = {}
        self.hrefs: list[str | None] = []
        self._open: list[str] = []
        self.errors: list[str] = []
        self.feed(text)
        self.close()
        if self._open:
            self.errors.append(f"unclosed: {self._open}")

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))
        if tag not in VOID:
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self._open[-1:] or 'nothing'}")
            return
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts.setdefault(self._open[-1], []).append(data)

    def text(self, tag: str) -> list[str]:
        return [t.strip() for t in self.texts.get(tag, []) if t.strip()]


async def submit(client: Client, job_input: dict[str, Any]) -> Any:
    resp = await client.post(
        JOBS, json={"jobType": "markdown.html", "input": job_input}, headers=auth()
    )
    return resp.status, await resp.json()


@pytest.fixture
async def client(worker_client: Client) -> Client:
    """A replica that serves and runs jobs."""
    return worker_client


async def finished(client: Client, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            job: dict[str, Any] = await (
                await client.get(f"{JOBS}/{job_id}", headers=auth())
            ).json()
            if job["status"] in ("done", "failed", "cancelled"):
                return job
            await asyncio.sleep(0.05)


async def render(client: Client, job_input: dict[str, Any]) -> Document:
    """Submit, let the worker run it, fetch the stored document."""
    status, body = await submit(client, job_input)
    assert status == 202, body
    job = await finished(client, body["jobId"])
    assert job["status"] == "done", (job["errorMessage"], job)
    result = job["result"]
    assert job["resultAssetId"] == result["assetId"]

    resp = await client.get(f"/api/companies/acme/assets/{result['assetId']}", headers=auth())
    described = await resp.json()
    assert described["jobId"] == body["jobId"]
    assert described["contentType"] == "text/html; charset=utf-8"
    resp = await client.get(
        f"/api/companies/acme/assets/{result['assetId']}/content", headers=auth()
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    raw = await resp.read()
    assert result["bytes"] == len(raw)
    return Document(raw.decode("utf-8"))


MARKDOWN = """\
# Quarterly report

Some *emphasis* and a [link](https://example.com/a?b=1&c=2).

<script>alert(1)</script>

## Numbers & <b>figures</b>

- one
- two

```python
print("<not html>")
```

[bad](javascript:alert(1))
"""


async def test_a_complete_document_with_raw_html_escaped(client: Client) -> None:
    doc = await render(client, {"markdown": MARKDOWN, "title": "Q3 <draft>"})

    assert doc.doctype is not None and doc.doctype.lower() == "doctype html"
    assert doc.errors == []
    assert doc.tags[:4] == ["html", "head", "meta", "meta"]
    assert {"title", "style", "body", "main"} <= set(doc.tags)
    assert doc.text("title") == ["Q3 <draft>"]
    assert doc.text("h1") == ["Q3 <draft>", "Quarterly report"]
    assert doc.text("h2") == ["Numbers & <b>figures</b>"]
    assert "script" not in doc.tags
    assert "b" not in doc.tags
    assert "<script>alert(1)</script>" in doc.text("p")  # shown as text, never run
    assert doc.text("code") == ['print("<not html>")']
    assert doc.hrefs == ["https://example.com/a?b=1&c=2"]  # no javascript: link


async def test_without_a_title_the_first_heading_names_the_document(client: Client) -> None:
    doc = await render(client, {"markdown": "Intro\n\n## Findings\n"})
    assert doc.text("title") == ["Findings"]
    assert doc.text("h1") == []
    doc = await render(client, {"markdown": ""})
    assert doc.text("title") == ["Document"]
    assert doc.errors == []


async def test_large_input_renders_every_block(client: Client) -> None:
    sections = 2000
    markdown = "".join(f"## Section {n}\n\nParagraph {n} with *text*.\n\n" for n in range(sections))
    doc = await render(client, {"markdown": markdown})
    assert len(doc.text("h2")) == sections
    assert doc.text("h2")[-1] == f"Section {sections - 1}"


@pytest.mark.parametrize(
    ("job_input", "field"),
    [
        ({}, "input.markdown: Field required"),
        ({"title": "x"}, "input.markdown: Field required"),
        ({"markdown": 5}, "input.markdown: Input should be a valid string"),
        ({"markdown": "x", "title": 5}, "input.title: Input should be a valid string"),
        ({"markdown": "x", "title": ["a"]}, "input.title: Input should be a valid string"),
        ({"markdown": "x", "theme": "dark"}, "input.theme: Extra inputs are not permitted"),
    ],
)
async def test_invalid_input_is_rejected_at_submit(
    client: Client, job_input: dict[str, Any], field: str
) -> None:
    status, body = await submit(client, job_input)
    assert status == 400
    assert body["error"] == field


async def test_markdown_html_is_a_known_job_type(client: Client) -> None:
    resp = await client.post(JOBS, json={"jobType": "nope"}, headers=auth())
    assert "markdown.html" in (await resp.json())["error"]


async def test_pathological_markdown_never_blocks_the_event_loop(make_client: MakeClient) -> None:
    """60,000 characters of `![` take markdown-it seconds: rendered in a CPU worker process,
    the replica keeps answering within milliseconds and keeps renewing the job's lease."""
    client = await make_client(role="all", job_lease_seconds=1.0)
    runner = client.app[RUNNER]
    status, body = await submit(client, {"markdown": "![" * 30_000})
    assert status == 202
    job_id = uuid.UUID(body["jobId"])
    worst, renewals, started = 0.0, set(), time.monotonic()
    async with asyncio.timeout(60):
        while True:
            asked = time.monotonic()
            assert (await client.get("/healthz")).status == 200
            worst = max(worst, time.monotonic() - asked)
            run = runner.run_of(job_id)
            if run is not None:
                renewals.add(run.renewed)
            job = await (await client.get(f"{JOBS}/{job_id}", headers=auth())).json()
            if job["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.02)
    took = time.monotonic() - started
    assert job["status"] == "done" and job["attempts"] == 1, job
    assert took > 1.0  # long enough for the check to mean something
    # a health check's round trip: milliseconds here, and under 0.6 s on a loaded machine;
    # rendered on the loop, one would wait for the whole render (over a second)
    assert worst < 0.6, worst
    assert len(renewals) >= 2  # the lease was renewed while it rendered


async def test_a_cpu_bound_run_past_its_timeout_is_killed(make_client: MakeClient) -> None:
    """The CPU worker process of a run that timed out is killed and replaced: the job fails
    as timed out, and the next CPU-bound job runs in a fresh process."""
    client = await make_client(role="all", job_type_timeouts={"markdown.html": 0.5}, cpu_workers=1)
    runner = client.app[RUNNER]
    status, body = await submit(client, {"markdown": "![" * 30_000})
    assert status == 202
    job = await finished(client, body["jobId"])
    assert (job["status"], job["errorMessage"]) == ("failed", "timed out after 0.5 seconds")
    assert runner.cpu.killed == 1
    doc = await render(client, {"markdown": "# After"})
    assert doc.text("title") == ["After"]
