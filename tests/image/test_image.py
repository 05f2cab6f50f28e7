"""The container image, built from the Dockerfile and run: `migrate`, `serve`, one job done
through the API, as the numeric non-root user 10001. Run by `make image-test` (and CI),
not by `make test`: building takes minutes.

With a working `docker` it builds and runs there; otherwise with buildah (vfs storage,
chroot isolation, the host's network). Where the Dockerfile's base cannot be pulled, the
base is made from Debian's packages with mmdebstrap, once, and kept in `CACHE`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from service.dev.pgserver import LocalPostgres, free_port
from tests.conftest import SECRET, make_token
from tests.processes import ROOT, wait_ready

pytestmark = [
    pytest.mark.timeout(1200),
    pytest.mark.skipif(
        not os.environ.get("CONTENT_JOBS_IMAGE_TEST"), reason="`make image-test` runs it"
    ),
]

VERSION = os.environ.get("VERSION", "0.0.0")
TAG = f"localhost/content-jobs:{VERSION}"
DEBIAN_BASE = "localhost/content-jobs-base:bookworm"
CACHE = Path("/var/tmp/content-jobs-image")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates,passwd"


def sh(*command: str, timeout: float = 900) -> str:
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


BUILDAH = ["buildah", "--storage-driver", "vfs"]


def debian_base() -> str:
    """A base image made from Debian's packages (no registry needed), made once."""
    have = subprocess.run([*BUILDAH, "inspect", "--type", "image", DEBIAN_BASE],
                          capture_output=True, check=False)  # fmt: skip
    if have.returncode == 0:
        return DEBIAN_BASE
    CACHE.mkdir(parents=True, exist_ok=True)
    tar = CACHE / "base.tar"
    if not tar.exists():
        sh("mmdebstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm",
           str(tar) + ".part", "http://deb.debian.org/debian")  # fmt: skip
        (CACHE / "base.tar.part").rename(tar)
    container = sh(*BUILDAH, "from", "scratch").strip()
    sh(*BUILDAH, "add", container, str(tar), "/")
    sh(*BUILDAH, "commit", "--quiet", container, DEBIAN_BASE)
    sh(*BUILDAH, "rm", container)
    return DEBIAN_BASE


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    server = LocalPostgres.temporary()
    server.start()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def image() -> str:
    """Build the image from the Dockerfile as a user would, with nothing built beforehand
    (the build context admits no dist/: the builder stage makes the wheel itself)."""
    if docker_works():
        sh("docker", "build", "-t", TAG, ".")
        return TAG
    base = os.environ.get("BASE_IMAGE") or debian_base()
    mount = f"{CA_BUNDLE}:{CA_BUNDLE}:ro"  # pip inside the build trusts what the host trusts
    sh(*BUILDAH, "bud", "--isolation", "chroot", "--pull=never", "--layers=false",
       "--build-arg", f"BASE={base}", "-v", mount, "-t", TAG, ".")  # fmt: skip
    return TAG


def serve(image: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """Run the image's `content-jobs` as its USER, on the host's network."""
    if docker_works():
        flags = [f"--env={k}={v}" for k, v in env.items()]
        command = ["docker", "run", "--rm", "--network=host", *flags, image, *args]
    else:
        container = sh(*BUILDAH, "from", "--quiet", image).strip()
        for key, value in env.items():
            sh(*BUILDAH, "config", "--env", f"{key}={value}", container)
        command = [*BUILDAH, "run", "--isolation", "chroot", container, "--",
                   "/app/venv/bin/content-jobs", *args]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_image_user_is_numeric_and_not_root(image: str) -> None:
    if docker_works():
        user = sh("docker", "image", "inspect", "--format", "{{.Config.User}}", image).strip()
    else:
        user = sh(*BUILDAH, "inspect", "--format", "{{.OCIv1.Config.User}}", image).strip()
    assert user == "10001:10001"


async def test_image_migrates_serves_and_runs_a_job(image: str, postgres: LocalPostgres) -> None:
    env = {"DATABASE_URL": postgres.dsn, "AUTH_JWT_SECRET": SECRET}
    migrate = serve(image, env, "migrate")
    output = migrate.communicate(timeout=300)[0]
    assert migrate.returncode == 0, output
    assert "applied" in output
    port = free_port()
    server = serve(image, env, "serve", "--no-migrate", "--host", "127.0.0.1", "--port", str(port))
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, timeout=120)
        headers = {"Authorization": f"Bearer {make_token('acme')}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            jobs = f"{base}/api/companies/acme/content-jobs"
            body = {"jobType": "markdown.html", "input": {"markdown": "# From the image"}}
            async with session.post(jobs, json=body) as resp:
                assert resp.status == 202, await resp.text()
                job_id = (await resp.json())["jobId"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                async with session.get(f"{jobs}/{job_id}") as resp:
                    job = await resp.json()
                if job["status"] in ("done", "failed"):
                    break
                await asyncio.sleep(0.2)
        assert job["status"] == "done", job
    finally:
        server.terminate()
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
