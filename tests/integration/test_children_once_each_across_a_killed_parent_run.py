"""CONTRACT "Pipelines", at least once for real: a parent's handler creates its children
(`ctx.submit` with keys) and its replica is SIGKILLed mid-run; once the lease runs out,
another replica runs the parent again, which submits the same keys and gets the same
children: each child exists once."""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from service.dev.pgserver import LocalPostgres
from tests.conftest import SECRET, make_token
from tests.processes import Replica

TYPES = """
import asyncio
from pydantic import BaseModel, ConfigDict
from service.sdk import JobType


class Anything(BaseModel):
    model_config = ConfigDict(extra="allow")


async def fan(ctx):
    ids = [await ctx.submit("echo", {"n": n}, key=f"child-{n}") for n in range(3)]
    await ctx.progress(50, "children submitted")
    if ctx.attempt == 1:
        await asyncio.sleep(3600)  # the test kills this replica now
    return {"children": ids}


JOB_TYPES = [JobType("fan.kill", "Submits three children, then hangs on attempt 1.", Anything, fan)]
"""


async def test_a_sigkilled_parent_run_leaves_each_child_once(
    own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    (tmp_path / "fan_kill_types.py").write_text(textwrap.dedent(TYPES))
    conn = await asyncpg.connect(own_postgres.dsn)
    await conn.execute("TRUNCATE content_jobs, content_job_events CASCADE")
    await conn.close()
    env = {
        "DATABASE_URL": own_postgres.dsn,
        "AUTH_JWT_SECRET": SECRET,
        "JOB_LEASE_SECONDS": "2",
        "SHUTDOWN_GRACE_SECONDS": "1",
        "LOG_FORMAT": "json",
        "PYTHONPATH": str(tmp_path),
        "JOB_TYPE_MODULES": "fan_kill_types",
    }
    first, second = Replica("a", "all", env, tmp_path), Replica("b", "all", env, tmp_path)
    headers = {"Authorization": f"Bearer {make_token('acme')}"}
    jobs = "/api/companies/acme/content-jobs"
    try:
        first.start()
        await first.wait_ready()
        async with aiohttp.ClientSession(headers=headers) as http:

            async def get(url: str) -> Any:
                async with http.get(url) as resp:
                    assert resp.status == 200, await resp.text()
                    return await resp.json()

            async with http.post(first.url + jobs, json={"jobType": "fan.kill"}) as resp:
                assert resp.status == 202, await resp.text()
                parent = (await resp.json())["jobId"]
            async with asyncio.timeout(30):
                while (await get(f"{first.url}{jobs}/{parent}"))["progress"]["percent"] < 50:
                    await asyncio.sleep(0.05)
            before = await get(f"{first.url}{jobs}?parentJobId={parent}")
            assert len(before) == 3

            first.signal(signal.SIGKILL)
            await first.wait_exit()
            second.start()
            await second.wait_ready()
            async with asyncio.timeout(30):
                while (job := await get(f"{second.url}{jobs}/{parent}"))["status"] != "done":
                    assert job["status"] in ("queued", "running"), job
                    await asyncio.sleep(0.05)
            after = await get(f"{second.url}{jobs}?parentJobId={parent}")
    finally:
        first.stop()
        second.stop()
    assert job["attempts"] == 2
    children = sorted(child["id"] for child in after)
    assert children == sorted(child["id"] for child in before)
    assert sorted(job["result"]["children"]) == children
