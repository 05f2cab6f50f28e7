"""The page's copy of the TypeScript client cannot drift from clients/typescript/src.

The page at `/` imports the client as ES modules from service/api/static/client/, built by
`npm run build:page` (tsc with tsconfig.page.json) and committed, so the service serves it
with no Node at run time. A change to the client must come with a fresh `npm run build:page`:
this test builds it anew into a temporary folder and compares every file.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from service.api.pages import STATIC_DIR
from tests.node import PACKAGE, ensure_node_modules

COMMITTED = STATIC_DIR / "client"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_committed_browser_build_is_a_fresh_build_of_the_client(tmp_path: Path) -> None:
    npm = ensure_node_modules()
    done = subprocess.run(
        [npm, "run", "build:page", "--", "--outDir", str(tmp_path)],
        cwd=PACKAGE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    fresh, committed = files(tmp_path), files(COMMITTED)
    assert "client.js" in fresh and "index.js" in fresh
    assert sorted(committed) == sorted(fresh), "run `npm run build:page` in clients/typescript"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert stale == [], f"{stale} differ: run `npm run build:page` in clients/typescript"
