"""The client commands of `content-jobs`: submit, jobs, watch, run as a user runs them.

`main()` runs in a thread (it starts its own event loop) against a real server
on loopback: the service for submit and jobs, the scripted event server for
watch and `--follow`, whose exit status tells how the job ended.
"""

from __future__ import annotations

import asyncio

import pytest

from service.cli import main
from tests.conftest import Client, make_token
from tests.fake_events import JOB_ID, FakeEventServer, job_events, serving


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def server_args(url: str, company: str = "acme") -> list[str]:
    return ["--url", url, "--token", make_token("acme"), "--company", company]


async def test_submit_prints_the_job_id_of_a_queued_job(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(client.make_url("/"))
    code = await run("submit", "sleep", "--input", '{"seconds": 2}', *server_args(url))
    assert code == 0
    job_id = capsys.readouterr().out.strip()
    resp = await client.get(
        f"/api/companies/acme/content-jobs/{job_id}",
        headers={"Authorization": f"Bearer {make_token('acme')}"},
    )
    assert (await resp.json())["input"]["seconds"] == 2


async def test_submit_options_and_retry(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    """`submit --priority --delay --max-attempts` reach the job; `retry ID` queues a cancelled
    job again (and a queued one is an API error, exit status 3)."""
    url = str(client.make_url("/"))
    headers = {"Authorization": f"Bearer {make_token('acme')}"}
    code = await run(
        "submit", "echo", "--priority", "7", "--delay", "60", "--max-attempts", "5",
        *server_args(url),
    )  # fmt: skip
    assert code == 0
    job_id = capsys.readouterr().out.strip()
    job_url = f"/api/companies/acme/content-jobs/{job_id}"
    job = await (await client.get(job_url, headers=headers)).json()
    assert (job["priority"], job["maxAttempts"], job["status"]) == (7, 5, "queued")
    assert await run("retry", job_id, *server_args(url)) == 3
    assert "only failed or cancelled" in capsys.readouterr().err
    await client.post(job_url + "/cancel", headers=headers)
    assert await run("retry", job_id, *server_args(url)) == 0
    assert capsys.readouterr().out.strip() == f"{job_id} queued"


async def test_jobs_prints_an_aligned_table_newest_first(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    url = str(client.make_url("/"))
    for job_type in ("echo", "sleep", "echo"):
        assert await run("submit", job_type, *server_args(url)) == 0
    ids = capsys.readouterr().out.split()
    assert await run("jobs", "--limit", "2", *server_args(url)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "MESSAGE"]
    assert [line.split()[0] for line in lines[1:]] == [ids[2], ids[1]]
    assert [line.split()[1:3] for line in lines[1:]] == [["echo", "queued"], ["sleep", "queued"]]
    header = lines[0]
    for row in lines[1:]:
        for column in ("ID", "TYPE", "STATUS", "CREATED"):  # left-aligned under their header
            start = header.index(column)
            assert row[start - 2 : start] in ("  ", ""), (column, row)
            assert row[start] != " ", (column, row)
        assert row[header.index("PROGRESS") + len("PROGRESS") - 1] == "%", row


async def test_jobs_filters_by_status(client: Client, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(client.make_url("/"))
    assert await run("submit", "echo", *server_args(url)) == 0
    capsys.readouterr()
    assert await run("jobs", "--status", "done", *server_args(url)) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


@pytest.mark.parametrize(
    ("final", "code"),
    [("done", 0), ("failed", 1), ("cancelled", 2)],
    ids=["done", "failed", "cancelled"],
)
async def test_watch_exit_status_tells_how_the_job_ended(
    final: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    error = "failed at step 3" if final == "failed" else None
    async with serving(FakeEventServer(job_events(final, error=error), cut_after={3})) as fake:
        assert await run("watch", JOB_ID, *server_args(fake.url)) == code
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["1 status queued 0%", "2 status running 0%"]
    assert lines[2:5] == [f"{n} progress running {p}% step {s} of 3" for n, p, s in
                          ((3, 33, 1), (4, 66, 2), (5, 100, 3))]  # fmt: skip
    assert lines[5] == f"6 status {final} 100% step 3 of 3"
    assert lines[6:] == (["error: failed at step 3"] if error else [])


async def test_submit_follow_shows_progress_and_exits_by_the_outcome(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving(FakeEventServer(job_events("failed", error="boom"))) as fake:
        assert await run("submit", "sleep", "--follow", *server_args(fake.url)) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == JOB_ID
    assert out[-2:] == ["6 status failed 100% step 3 of 3", "error: boom"]


async def test_an_api_error_is_one_line_and_exit_status_3(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with serving(FakeEventServer(job_events())) as fake:
        code = await run("watch", "9f0b6f64-0000-4000-8000-000000000000", *server_args(fake.url))
    assert code == 3
    assert capsys.readouterr().err == "content-jobs: 404: Job not found\n"


async def test_company_and_token_come_from_the_environment(
    client: Client, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTENT_JOBS_URL", str(client.make_url("/")))
    monkeypatch.setenv("CONTENT_JOBS_TOKEN", make_token("acme"))
    monkeypatch.setenv("CONTENT_JOBS_COMPANY", "acme")
    assert await run("jobs") == 0
    assert capsys.readouterr().out.startswith("ID ")


def test_a_missing_company_is_named_with_both_ways_to_give_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONTENT_JOBS_COMPANY", raising=False)
    assert main(["jobs", "--token", "t"]) == 2
    assert "--company ID or set CONTENT_JOBS_COMPANY" in capsys.readouterr().err


def test_input_must_be_a_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["submit", "sleep", "--input", "[1]", "--token", "t", "--company", "c"])
    assert exited.value.code == 2
    assert "must be a JSON object" in capsys.readouterr().err


def test_help_documents_the_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    assert "0 done, 1 failed, 2 cancelled (how the job ended)" in capsys.readouterr().out
