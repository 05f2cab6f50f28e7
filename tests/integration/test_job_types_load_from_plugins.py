"""API job types are plugins: a distribution content-jobs has never heard of
(`examples/plugin`), installed next to it, adds types through the entry point — listed,
validated, in OpenAPI, run, retried on a transient error, on the page — on a real replica
process. Also `JOB_TYPE_MODULES`, `content-jobs job-types`, and start-up errors that name
their culprit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from service.dev.pgserver import LocalPostgres
from tests.conftest import SECRET
from tests.integration.test_replicas_share_one_database_and_lose_no_event import (
    HEADERS,
    JOBS,
    history,
)
from tests.processes import ROOT, Replica

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, installed (built by pip, as a user would) into a directory that
    the replica gets on its PYTHONPATH: next to content-jobs, not inside it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
         "--target", str(target), str(ROOT / "examples" / "plugin")],
        check=True,
    )  # fmt: skip
    return target


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


async def test_a_plugin_types_are_listed_validated_documented_run_and_retried(
    own_postgres: LocalPostgres, tmp_path: Path, plugin_path: Path
) -> None:
    env = {
        "DATABASE_URL": own_postgres.dsn,
        "AUTH_JWT_SECRET": SECRET,
        "PYTHONPATH": str(plugin_path),
        "LOG_FORMAT": "json",
    }
    replica = Replica("plugged", "all", env, tmp_path)
    replica.start()
    try:
        await replica.wait_ready()
        async with aiohttp.ClientSession(headers=HEADERS) as session:
            await _listed_and_documented(session, replica.url)
            await _validated(session, replica.url)
            await _runs_and_retries(session, replica.url)
            await _cpu_bound_plugin_runs(session, replica.url)
    finally:
        replica.stop()


async def _listed_and_documented(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/api/job-types") as resp:
        types = {t["name"]: t for t in await resp.json()}
    assert {"test", "echo", "sleep", "markdown.html", "text.stats", "text.wordfreq"} <= set(types)
    stats = types["text.stats"]
    assert stats["maxAttempts"] == 4
    assert stats["retry"] == {"baseSeconds": 0.5, "maxSeconds": 5}
    assert stats["inputSchema"]["properties"]["text"]["type"] == "string"
    assert types["text.wordfreq"]["cpuBound"] is True
    async with session.get(f"{base}/openapi.json") as resp:
        schemas = (await resp.json())["components"]["schemas"]
    assert "text.stats" in schemas["SubmitRequest"]["discriminator"]["mapping"]
    assert schemas["Submit_text_stats"]["properties"]["jobType"] == {"const": "text.stats"}


async def _validated(session: aiohttp.ClientSession, base: str) -> None:
    body = {"jobType": "text.stats", "input": {"text": "hi", "chunks": 0}}
    async with session.post(f"{base}{JOBS}", json=body) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"].startswith("input.chunks: ")


async def _runs_and_retries(session: aiohttp.ClientSession, base: str) -> None:
    text = "one two three\nfour five\n" * 50
    body = {"jobType": "text.stats", "input": {"text": text, "flakyAttempts": 1}}
    async with session.post(f"{base}{JOBS}", json=body) as resp:
        assert resp.status == 202
        job_id = (await resp.json())["jobId"]
    job = await _finished(session, base, job_id)
    assert job["status"] == "done" and job["attempts"] == 2
    assert job["result"] == {"characters": len(text), "lines": 100, "words": 250}
    events = await history(session, base, job_id)
    errors = [e.data["errorMessage"] for e in events if e.data["status"] == "queued"]
    assert "dictionary service unavailable (attempt 1)" in errors


async def _cpu_bound_plugin_runs(session: aiohttp.ClientSession, base: str) -> None:
    body = {"jobType": "text.wordfreq", "input": {"text": "a b a c a b", "top": 2}}
    async with session.post(f"{base}{JOBS}", json=body) as resp:
        job_id = (await resp.json())["jobId"]
    job = await _finished(session, base, job_id)
    assert job["result"] == {"top": [["a", 3], ["b", 2]], "distinct": 3}


async def _finished(session: aiohttp.ClientSession, base: str, job_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            async with session.get(f"{base}{JOBS}/{job_id}") as resp:
                job: dict[str, Any] = await resp.json()
            if job["status"] in ("done", "failed", "cancelled"):
                return job
            await asyncio.sleep(0.05)


def test_job_types_command_lists_entry_points_and_modules(
    plugin_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "extra_types.py").write_text(
        "from pydantic import BaseModel\n"
        "from service.sdk import JobType\n"
        "class In(BaseModel):\n    pass\n"
        "async def run(ctx):\n    return {}\n"
        "JOB_TYPES = [JobType('extra.noop', 'Does nothing', In, run)]\n"
    )
    path = f"{plugin_path}{os.pathsep}{tmp_path}"
    done = cli("job-types", env={"PYTHONPATH": path, "JOB_TYPE_MODULES": "extra_types"})
    assert done.returncode == 0, done.stderr
    names = [line.split(":")[0] for line in done.stdout.splitlines()]
    assert names == [
        "echo", "extra.noop", "markdown.html (cpu-bound)", "sleep", "test", "text.stats",
        "text.typewriter", "text.wordfreq (cpu-bound)",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("module", "culprit"),
    [
        ("import nothing_here_at_all\n", "failed to import"),
        ("JOB_TYPES = [1]\n", "which is not a JobType"),
        (
            "from pydantic import BaseModel\nfrom service.sdk import JobType\n"
            "class In(BaseModel):\n    pass\nasync def run(ctx):\n    return {}\n"
            "JOB_TYPES = [JobType('sleep', 'again', In, run)]\n",
            "'sleep' is declared twice",
        ),
        (
            "from pydantic import BaseModel\nfrom service.sdk import JobType\n"
            "class In(BaseModel):\n    pass\ndef run(ctx):\n    return {}\n"
            "JOB_TYPES = [JobType('sync.one', 'not async', In, run)]\n",
            "handler must be an async function",
        ),
    ],
)
def test_a_bad_plugin_stops_start_up_with_one_line_naming_it(
    tmp_path: Path, module: str, culprit: str
) -> None:
    (tmp_path / "bad_types.py").write_text(module)
    env = {
        "PYTHONPATH": str(tmp_path),
        "JOB_TYPE_MODULES": "bad_types",
        "DATABASE_URL": "postgresql://127.0.0.1:1/none",
        "AUTH_JWT_SECRET": SECRET,
    }
    done = cli("serve", "--no-migrate", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and culprit in lines[0] and "bad_types" in lines[0], done.stderr
