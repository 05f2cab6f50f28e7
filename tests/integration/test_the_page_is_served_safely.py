"""`GET /`: the web page, served without a token, self-contained (no CDN, no build step).

Browser tests (Playwright) come later; these pin what they will rely on: the
stable element ids and the job types the server renders into the page.
"""

from __future__ import annotations

import re

import pytest

from service.api.pages import STATIC_DIR
from service.jobtypes import load
from tests.conftest import Client

PAGE_IDS = ("token", "company", "job-type", "job-input", "submit", "jobs", "job-row", "notice")


async def test_the_page_is_served_without_a_token_with_stable_ids(client: Client) -> None:
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    for element_id in PAGE_IDS:
        assert f'id="{element_id}"' in page
    row = page[page.index('<template id="job-row">') :]
    for part in ('class="status"', "<progress", 'class="message"', 'class="error"'):
        assert part in row


async def test_the_type_select_lists_the_registry(client: Client) -> None:
    page = await (await client.get("/")).text()
    select = re.search(r'<select id="job-type"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    assert re.findall(r"<option>([^<]*)</option>", select.group(1)) == load().names()


async def test_the_page_may_load_only_its_own_files(client: Client) -> None:
    resp = await client.get("/")
    policy = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert resp.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript"),
        ("style.css", "text/css"),
        # modules: a browser runs none served with another type
        ("client/index.js", "text/javascript"),
        ("client/client.js", "text/javascript"),
        ("client/sse.js", "text/javascript"),
    ],
)
async def test_static_files_are_served(client: Client, name: str, content_type: str) -> None:
    resp = await client.get(f"/static/{name}")
    assert resp.status == 200
    assert resp.content_type in (content_type, "application/javascript")
    assert await resp.read() == (STATIC_DIR / name).read_bytes()


def test_nothing_is_loaded_from_elsewhere() -> None:
    """No file of the page (the client's build in static/client/ too) names another origin
    to load from: no CDN, and the CSP would refuse it anyway."""
    paths = [path for path in STATIC_DIR.rglob("*") if path.is_file()]
    assert STATIC_DIR / "client" / "client.js" in paths
    for path in paths:
        text = path.read_text()
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert not re.search(r"""\bimport\b[^;]*?["'](https?:)?//""", text), path.name
        assert "@import" not in text, path.name


def test_the_script_puts_no_token_in_a_url_and_closes_ended_streams() -> None:
    """EventSource cannot send headers: the page's streams rely on the same-site cookie, never
    a token in their URL (logs, history); and one left open after the terminal event would
    take the server's end of stream for a drop and reconnect forever. The page watches
    through the TypeScript client (its build in static/client/), which opens and closes them."""
    script = (STATIC_DIR / "app.js").read_text()
    assert 'from "./client/index.js"' in script and "client.watch(" in script
    assert "new EventSource(" not in script  # every stream is the client's
    assert "access_token=" not in script and "tokenInQuery" not in script
    assert "SameSite=Strict" in script and "Path=/api;" in script
    client = (STATIC_DIR / "client" / "client.js").read_text()
    assert "new factory(url)" in client and "source.close()" in client
    assert "SameSite=Strict" in client and "Path=/api;" in client


def test_the_page_loads_its_script_as_a_module_of_its_own_origin() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert '<script type="module" src="static/app.js"></script>' in page
