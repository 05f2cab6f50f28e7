"""Each command asks only for the settings it uses: `prune` and `migrate` need DATABASE_URL
alone (no AUTH_JWT_SECRET: they check no token), `token` needs AUTH_JWT_SECRET alone; and a
secret that is too short says what is needed."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from service.settings import Settings, SettingsError
from tests.conftest import SECRET
from tests.processes import ROOT

#: what is left of the environment: no setting of the service's at all
BARE = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}


async def content_jobs(*args: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", *args,
        cwd=ROOT, env={**BARE, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_prune_and_migrate_need_only_the_database_url(database_url: str) -> None:
    code, out, err = await content_jobs("migrate", DATABASE_URL=database_url)
    assert code == 0, err
    code, out, err = await content_jobs("prune", "--older-than", "30d", DATABASE_URL=database_url)
    assert code == 0, err
    assert out.startswith("pruned 0 job(s)")


async def test_prune_without_a_database_url_names_it() -> None:
    code, _, err = await content_jobs("prune", "--older-than", "30d")
    assert code == 2
    assert err == "content-jobs: DATABASE_URL is required but not set\n"


async def test_token_needs_only_the_secret() -> None:
    code, out, err = await content_jobs("token", "--company", "acme", AUTH_JWT_SECRET=SECRET)
    assert code == 0, err
    assert out.count(".") == 2  # a JWT


def test_a_short_secret_says_how_long_it_must_be_and_how_to_make_one() -> None:
    env = {"DATABASE_URL": "postgresql://db/jobs", "AUTH_JWT_SECRET": SECRET}
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**env, "WEBHOOK_SECRET": "s3cret"})
    assert str(raised.value) == (
        "WEBHOOK_SECRET is invalid: must be at least 32 bytes, it has 6: "
        "make one with `openssl rand -hex 32`"
    )
