"""`content-jobs schedules list|create|pause|resume|delete` against a real server, as a user
runs them (by id or by name)."""

from __future__ import annotations

import pytest

from tests.conftest import Client, auth
from tests.integration.test_the_cli_submits_watches_and_exits_by_outcome import run, server_args


async def test_schedules_are_created_listed_paused_resumed_and_deleted(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_args(str(client.make_url("/")))
    job = '{"jobType": "echo", "input": {"n": 1}}'
    create = ("schedules", "create", "nightly", "--cron", "30 2 * * *", "--job", job)
    assert await run(*create, "--timezone", "Europe/Berlin", *server) == 0
    schedule_id = capsys.readouterr().out.strip()
    assert await run("schedules", "create", "often", "--every", "30", "--job", job, *server) == 0
    capsys.readouterr()

    assert await run("schedules", "list", *server) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{schedule_id}  nightly  cron '30 2 * * *' Europe/Berlin  next ")
    assert "often  every 30s  next " in lines[1]

    assert await run("schedules", "pause", "nightly", *server) == 0
    assert capsys.readouterr().out.strip().endswith("paused")
    one = await client.get(f"/api/companies/acme/schedules/{schedule_id}", headers=auth())
    assert (await one.json())["paused"] is True
    assert await run("schedules", "resume", schedule_id, *server) == 0
    assert " next " in capsys.readouterr().out

    assert await run("schedules", "delete", "nightly", *server) == 0
    gone = await client.get(f"/api/companies/acme/schedules/{schedule_id}", headers=auth())
    assert gone.status == 404


async def test_a_refused_schedule_is_one_line_and_exit_status_3(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    server = server_args(str(client.make_url("/")))
    bad = ("schedules", "create", "x", "--cron", "99 * * * *", "--job", '{"jobType": "echo"}')
    assert await run(*bad, *server) == 3
    assert "cron must be 5 fields" in capsys.readouterr().err
    assert await run("schedules", "delete", "no-such-name", *server) == 3
    assert "no schedule named 'no-such-name'" in capsys.readouterr().err
