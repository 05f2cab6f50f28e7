"""The TypeScript client (clients/typescript) against real replicas: its `npm test` passes.

One replica serves and runs jobs; two more (api only) are the failover pair: the Node
test kills the one serving its stream (by the pid given here) and the watch must go on
on the other with no event lost or repeated. The Node side issues its own tokens, short
ones too, from the secret given here. The Node tests are in clients/typescript/test/.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import pytest

from tests.conftest import SECRET
from tests.node import PACKAGE, ensure_node_modules

pytestmark = pytest.mark.timeout(240)


async def test_the_typescript_client_passes_its_tests_against_live_replicas(
    cluster: Any,
) -> None:
    npm = await asyncio.to_thread(ensure_node_modules)
    main = await cluster("main", "all")
    first = await cluster("failover-a", "api")
    second = await cluster("failover-b", "api")
    assert first.process is not None and second.process is not None
    env = {
        **os.environ,
        "CONTENT_JOBS_URL": main.url,
        "CONTENT_JOBS_JWT_SECRET": SECRET,
        "CONTENT_JOBS_FAILOVER_URLS": f"{first.url},{second.url}",
        "CONTENT_JOBS_FAILOVER_PIDS": f"{first.process.pid},{second.process.pid}",
    }
    process = await asyncio.create_subprocess_exec(
        npm, "test", cwd=PACKAGE, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 200)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    counts = {k: int(v) for k, v in re.findall(r"^# (pass|fail) (\d+)$", text, re.M)}
    assert counts.get("fail") == 0, text
    assert "# SKIP" not in text, text  # the live tests ran: none skipped for want of a URL
    for promise in (
        "round trip",
        "overview counts",
        "to done, progress in order",
        "replica killed mid-stream",
        "token that expires mid-job",
        "as in a browser",
        "unknown job",
    ):
        assert re.search(rf"^\s*ok \d+ - .*{promise}", text, re.M), f"{promise}?\n{text}"
    assert first.process.poll() is not None, "the Node test killed the replica serving its stream"
