"""The TypeScript client's Node toolchain, for the tests that build and run it.

`npm ci` runs once per change of clients/typescript/package-lock.json (a stamp in
node_modules holds the lock file's hash), under a file lock so that two test
processes do not install into the same folder at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess

import pytest

from tests.processes import ROOT

PACKAGE = ROOT / "clients" / "typescript"


def npm() -> str:
    """The npm executable; the test is skipped (with the reason) where Node is not installed."""
    node, npm_path = shutil.which("node"), shutil.which("npm")
    if node is None or npm_path is None:
        pytest.skip("node and npm are not installed (CI installs them: apt-get install nodejs npm)")
    return npm_path


def ensure_node_modules() -> str:
    """`npm ci` unless node_modules already matches package-lock.json; returns npm's path."""
    npm_path = npm()
    digest = hashlib.sha256((PACKAGE / "package-lock.json").read_bytes()).hexdigest()
    stamp = PACKAGE / "node_modules" / ".ci-stamp"
    with (PACKAGE / "package-lock.json").open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists() or stamp.read_text() != digest:
            done = subprocess.run(
                [npm_path, "ci", "--no-audit", "--no-fund"],
                cwd=PACKAGE,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            stamp.write_text(digest)
    return npm_path
