"""What the CLI prints for a job's events and for the jobs table."""

from __future__ import annotations

import io
from typing import Any

from service.client import Job, JobEvent
from service.client.console import EventPrinter, exit_code, jobs_table, plain_line, progress_line


def event(n: int, kind: str, status: str, percent: int, **extra: Any) -> JobEvent:
    data = {
        "jobId": "j",
        "status": status,
        "progress": {"percent": percent, "message": extra.pop("message", None)},
        "resultAssetId": None,
        "errorMessage": None,
        **extra,
    }
    return JobEvent(n, kind, data)


EVENTS = [
    event(1, "status", "running", 0),
    event(2, "progress", "running", 50, message="half"),
    event(3, "status", "done", 100, message="half", resultAssetId="a-1"),
]


def test_on_a_terminal_one_line_is_redrawn_then_ended() -> None:
    out = io.StringIO()
    printer = EventPrinter(out, tty=True, width=80)
    for e in EVENTS:
        printer.show(e)
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 3
    redraws, _, after = text.partition("\n")
    assert redraws.endswith("[" + "#" * 24 + "] 100% done      half")
    assert after == "result asset: a-1\n"


def test_a_redrawn_line_never_wraps() -> None:
    out = io.StringIO()
    EventPrinter(out, tty=True, width=40).show(event(1, "progress", "running", 5, message="x" * 99))
    assert len(out.getvalue().removeprefix("\r\x1b[K")) == 39


def test_elsewhere_one_plain_line_per_event() -> None:
    out = io.StringIO()
    printer = EventPrinter(out, tty=False)
    for e in EVENTS:
        printer.show(e)
    printer.close()
    assert out.getvalue().splitlines() == [
        "1 status running 0%",
        "2 progress running 50% half",
        "3 status done 100% half",
        "result asset: a-1",
    ]


def test_a_failure_shows_its_error() -> None:
    failed = event(9, "status", "failed", 30, errorMessage="failed at step 3")
    assert plain_line(failed) == "9 status failed 30%"
    out = io.StringIO()
    EventPrinter(out, tty=False).show(failed)
    assert out.getvalue().endswith("error: failed at step 3\n")


def test_progress_line_clamps_odd_percentages() -> None:
    assert progress_line({"status": "running", "progress": {"percent": 250}}).startswith(
        "[" + "#" * 24 + "] 100%"
    )
    assert "  0%" in progress_line({"status": "queued", "progress": None})


def test_exit_codes() -> None:
    assert [exit_code(s) for s in ("done", "failed", "cancelled", None)] == [0, 1, 2, 3]


def test_jobs_table_aligns_columns_and_shows_errors_before_messages() -> None:
    def job(job_id: str, status: str, percent: int, error: str | None = None) -> Job:
        return {
            "id": job_id, "companyId": "acme", "jobType": "sleep", "status": status,
            "input": {}, "sourceTaskId": None, "progress": {"percent": percent, "message": "m"},
            "result": None, "resultAssetId": None, "errorMessage": error, "attempts": 1,
            "createdAt": "2024-05-01T10:00:00.123Z", "startedAt": None, "finishedAt": None,
            "updatedAt": "2024-05-01T10:00:00Z",
        }  # fmt: skip

    table = jobs_table([job("a", "running", 5), job("bb", "failed", 100, "boom")])
    assert table.splitlines() == [
        "ID  TYPE   STATUS   PROGRESS  CREATED              MESSAGE",
        "a   sleep  running        5%  2024-05-01 10:00:00  m",
        "bb  sleep  failed       100%  2024-05-01 10:00:00  boom",
    ]


def output(n: int, offset: int, chunk: str) -> JobEvent:
    return JobEvent(n, "output", {"jobId": "j", "offset": offset, "chunk": chunk})


def screen(text: str, width: int) -> list[str]:
    """What a terminal shows after `text`: the few controls EventPrinter writes, applied."""
    rows, row, col, i = [""], 0, 0, 0
    while i < len(text):
        if text.startswith("\x1b[K", i):
            rows[row], i = rows[row][:col], i + 3
        elif text.startswith("\x1b[1A", i):
            row, i = row - 1, i + 4
        elif text.startswith("\x1b[", i):
            end = text.index("G", i)
            col, i = int(text[i + 2 : end]) - 1, end + 1
        else:
            char, i = text[i], i + 1
            if char == "\r":
                col = 0
            elif char == "\n":
                row, col = row + 1, 0
                rows += [""] * (row + 1 - len(rows))
            else:
                rows[row] = rows[row][:col].ljust(col) + char + rows[row][col + 1 :]
                col += 1
    return rows


STREAMED = [
    event(1, "status", "running", 0),
    output(2, 0, "Hello, "),
    output(3, 7, "world.\nSecond"),
    event(4, "progress", "running", 50, message="half"),
    output(5, 20, " line"),
    event(6, "status", "done", 100, message="half"),
]


def test_on_a_terminal_output_is_printed_above_the_redrawn_progress_line() -> None:
    out = io.StringIO()
    printer = EventPrinter(out, tty=True, width=80)
    shown = []
    for e in STREAMED:
        printer.show(e)
        shown.append(screen(out.getvalue(), 80))
    assert shown[2][:2] == ["Hello, world.", "Second"]
    assert shown[2][2].endswith("0% running")  # the progress line, below the output
    assert shown[-1] == [
        "Hello, world.",
        "Second line",
        "[" + "#" * 24 + "] 100% done      half",
        "",
    ]


def test_elsewhere_output_is_printed_as_it_comes_and_events_on_lines_of_their_own() -> None:
    out = io.StringIO()
    printer = EventPrinter(out, tty=False)
    for e in STREAMED:
        printer.show(e)
    printer.close()
    assert out.getvalue().splitlines() == [
        "1 status running 0%",
        "Hello, world.",
        "Second",
        "4 progress running 50% half",
        " line",
        "6 status done 100% half",
    ]
