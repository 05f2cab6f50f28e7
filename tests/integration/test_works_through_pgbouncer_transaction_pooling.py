"""Many Postgres shops put PgBouncer (transaction pooling) in front: the pool works through
a real `pgbouncer` in transaction mode (prepared-statement cache off, as PgBouncer < 1.21
needs), while the listener keeps its session connection directly (`LISTEN_DATABASE_URL`)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from yarl import URL

from service.dev.pgserver import free_port
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import job_path, submit
from tests.sse import collect

pytestmark = pytest.mark.skipif(shutil.which("pgbouncer") is None, reason="pgbouncer missing")


@pytest.fixture
def pgbouncer(database_url: str) -> Iterator[str]:
    """A pgbouncer in transaction mode in front of the test database; its DSN."""
    target = URL(database_url)
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="content-jobs-pgbouncer-"))
    home.chmod(0o755)
    (home / "users.txt").write_text('"postgres" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"[databases]\n{target.path.lstrip('/')} = host={target.host} port={target.port}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"auth_type = trust\nauth_file = {home}/users.txt\npool_mode = transaction\n"
        "max_client_conn = 200\ndefault_pool_size = 5\nunix_socket_dir =\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    command = ["pgbouncer", str(home / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(home, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield str(target.with_port(port))
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
async def bounced(pgbouncer: str, make_client: MakeClient, database_url: str) -> Client:
    """A replica whose pool goes through pgbouncer (set up first, so it goes away last)."""
    return await make_client(
        role="all",
        database_url=pgbouncer,
        listen_database_url=database_url,
        db_statement_cache_size=0,
        job_lease_seconds=3.0,
    )


async def test_jobs_run_and_stream_through_pgbouncer_in_transaction_mode(
    bounced: Client,
) -> None:
    jobs = [
        (await submit(bounced, {"jobType": "sleep", "input": {"seconds": 0.3, "steps": 3}}))[
            "jobId"
        ]
        for _ in range(5)
    ]
    for job_id in jobs:
        async with bounced.get(job_path(job_id) + "/events", headers=auth()) as resp:
            events = await asyncio.wait_for(collect(resp), 20)
        assert events[-1].data["status"] == "done"
        ids = [e.id or 0 for e in events]
        assert ids == sorted(set(ids))
    listed = await (await bounced.get("/api/companies/acme/content-jobs", headers=auth())).json()
    assert {job["id"] for job in listed} >= set(jobs)
