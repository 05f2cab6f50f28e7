"""The TypeScript client's types cannot drift from the service's OpenAPI document.

clients/typescript/src/openapi.d.ts is generated (`npm run gen`) from
service.api.openapi.document(); `npm run check-types` regenerates it and fails when
the committed file differs. A change to the API must come with `npm run gen`.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.node import PACKAGE, ensure_node_modules


def test_the_generated_types_match_the_openapi_document() -> None:
    npm = ensure_node_modules()
    done = subprocess.run(
        [npm, "run", "check-types"],
        cwd=PACKAGE,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
