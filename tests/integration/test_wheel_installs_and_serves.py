"""A wheel that works: built from the checkout, installed with the locked dependencies into a
clean venv, it migrates and serves from a directory that has no checkout (migrations and
named queries travel inside the package), and runs a job through the API."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from service.db import migrations
from service.dev.pgserver import LocalPostgres, free_port
from tests.conftest import SECRET, make_token
from tests.integration.helpers import fresh_database
from tests.processes import ROOT, wait_ready

pytestmark = pytest.mark.timeout(300)


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ of a clean venv holding only the wheel and its locked dependencies."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT, cwd=work)
    [wheel] = dist.glob("content_jobs-*.whl")
    requirements = work / "requirements.txt"
    uv = Path(sys.executable).parent / "uv"
    run(uv, "export", "--quiet", "--frozen", "--no-emit-project", "--format",
        "requirements-txt", "-o", requirements, cwd=ROOT)  # fmt: skip
    run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    pip = work / "venv" / "bin" / "pip"
    run(pip, "install", "-q", "--require-hashes", "-r", requirements, cwd=work)
    run(pip, "install", "-q", "--no-deps", wheel, cwd=work)
    return work / "venv" / "bin"


async def test_the_wheel_migrates_and_serves_without_a_checkout(
    installed: Path, own_postgres: LocalPostgres, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": await fresh_database(own_postgres.dsn, "from_wheel"),
        "AUTH_JWT_SECRET": SECRET,
        "PYTHONPATH": "",
    }
    elsewhere = tmp_path / "no-checkout-here"
    elsewhere.mkdir()
    applied = f"applied {len(migrations.known_ids())} migration(s)"
    assert applied in run(installed / "content-jobs", "migrate", cwd=elsewhere, env=env)
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 (a server for the test's whole life)
        [installed / "content-jobs", "serve", "--no-migrate", "--port", str(port)],
        cwd=elsewhere,
        env={**os.environ, **env},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, timeout=30)
        headers = {"Authorization": f"Bearer {make_token('acme')}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            jobs = f"{base}/api/companies/acme/content-jobs"
            async with session.post(jobs, json={"jobType": "echo", "input": {"x": 1}}) as resp:
                assert resp.status == 202
                job_id = (await resp.json())["jobId"]
            async with asyncio.timeout(20):
                while True:
                    async with session.get(f"{jobs}/{job_id}") as resp:
                        job = await resp.json()
                    if job["status"] == "done":
                        break
                    await asyncio.sleep(0.1)
        assert job["result"] == {"x": 1}
    finally:
        server.terminate()
        server.wait(timeout=30)
