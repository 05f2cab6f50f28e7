"""The admin's commands: `content-jobs token --admin` signs a token with role admin, and with it
`job-types pause|resume NAME` and `redrive --status ...` act on a running server over HTTP."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from service.cli import main
from service.db.store import Store
from tests.conftest import SECRET, Client, make_token


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def test_token_admin_signs_role_admin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    assert main(["token", "--company", "*", "--admin"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), SECRET, ["HS256"])
    assert (claims["role"], claims["companies"]) == ("admin", ["*"])
    with pytest.raises(SystemExit):  # one role per token
        main(["token", "--company", "*", "--admin", "--viewer"])


async def test_pause_resume_and_redrive_over_http(
    client: Client,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = str(client.make_url("/"))
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    main(["token", "--company", "*", "--admin"])
    admin = capsys.readouterr().out.strip()

    assert await run("job-types", "pause", "sleep", "--url", url, "--token", admin) == 0
    assert capsys.readouterr().out.strip() == "sleep paused"
    assert await store.paused_job_types() == {"sleep"}
    assert await run("job-types", "resume", "sleep", "--url", url, "--token", admin) == 0
    assert capsys.readouterr().out.strip() == "sleep running"
    # an editor's token is refused: one line, exit status 3
    editor = make_token("*")
    assert await run("job-types", "pause", "sleep", "--url", url, "--token", editor) == 3
    assert "admin" in capsys.readouterr().err

    await store.pool.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts, status,"
        " finished_at) SELECT gen_random_uuid(), 'acme', 'echo', '{}', 1, 'failed', now()"
        " FROM generate_series(1, 3)"
    )
    server = ["--url", url, "--token", make_token("acme"), "--company", "acme"]
    assert await run("redrive", "--status", "failed", "--job-type", "echo", *server) == 0
    assert capsys.readouterr().out.strip() == "3 jobs queued again"
