"""What the CLI prints: a job's live progress and the jobs table.

On a terminal progress is one line redrawn in place (`\\r`), so a long job
does not scroll the screen away; anywhere else (a pipe, a CI log) it is one
plain line per event, which is what `grep` and log viewers want. A job's
streamed output (`output` events) is printed as it comes: on a terminal above
the progress line (which is drawn again below it), elsewhere as it is, each
other event's line starting on a line of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

from service.client import Job, JobEvent
from service.domain.jobs import Status

#: exit status of `submit --follow` and `watch`, by the job's final status (each terminal
#: status has one: `tests/unit/test_one_definition_per_concept.py`)
EXIT_CODES: dict[str, int] = {Status.DONE: 0, Status.FAILED: 1, Status.CANCELLED: 2}
#: exit status when the API or the network failed us, not the job
EXIT_ERROR = 3
BAR_WIDTH = 24
_CLEAR_LINE = "\r\x1b[K"


def exit_code(final_status: str | None) -> int:
    return EXIT_CODES.get(final_status or "", EXIT_ERROR)


class EventPrinter:
    """Shows each event of one job as it comes; call `close()` when the stream ends."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, width: int | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.width = width or shutil.get_terminal_size().columns
        self._line_open = False
        #: the progress line last drawn (drawn again below new output)
        self._progress = ""
        #: characters of output printed since its last newline (its line is still open)
        self._tail = 0

    def show(self, event: JobEvent) -> None:
        if event.event == "output":
            self._output(str(event.data.get("chunk", "")))
            self.out.flush()
            return
        self._end_output_line()
        if self.tty:
            self._redraw(progress_line(event.data))
        else:
            self.out.write(plain_line(event) + "\n")
        if event.terminal:
            self.close()
            for line in outcome_lines(event.data):
                self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        """End a redrawn line, so what comes next starts on a line of its own."""
        if self._line_open:
            self.out.write("\n")
            self._line_open = False
            self._tail = 0  # the output's open line is above the progress line: ended too
        self._end_output_line()

    def _redraw(self, line: str) -> None:
        """Cut to the terminal's width: a wrapped line could no longer be redrawn by `\\r`."""
        self._progress = line[: max(self.width - 1, 10)]
        self.out.write(_CLEAR_LINE + self._progress)
        self._line_open = True

    def _output(self, chunk: str) -> None:
        """Print a chunk where the output left off: on a terminal the progress line is
        cleared, the cursor goes back to the end of the open output line above it, and the
        progress line is drawn again below what was printed."""
        redraw = self.tty and self._line_open
        if redraw:
            self.out.write(_CLEAR_LINE)
            if self._tail:  # back up to the end of the output's open line
                self.out.write(f"\x1b[1A\x1b[{self._tail % self.width + 1}G")
        self.out.write(chunk)
        _, newline, tail = chunk.rpartition("\n")
        self._tail = len(tail) if newline else self._tail + len(tail)
        if redraw:
            self.out.write(("\n" if self._tail else "") + self._progress)

    def _end_output_line(self) -> None:
        """Output that did not end with a newline: what comes next starts below it."""
        if self._tail and not self._line_open:
            self.out.write("\n")
            self._tail = 0


def plain_line(event: JobEvent) -> str:
    """`12 progress running 40% step 2 of 5`: the event id first, for resuming by hand."""
    progress = event.data.get("progress") or {}
    message = progress.get("message") or ""
    status = event.data.get("status", "?")
    return (
        f"{event.id} {event.event} {status} {_percent(progress.get('percent'))}% {message}".rstrip()
    )


def progress_line(data: Mapping[str, Any]) -> str:
    progress = data.get("progress") or {}
    percent = _percent(progress.get("percent"))
    filled = round(BAR_WIDTH * percent / 100)
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    message = progress.get("message") or ""
    return f"[{bar}] {percent:>3}% {data.get('status', '?'):<9} {message}".rstrip()


def outcome_lines(data: Mapping[str, Any]) -> list[str]:
    """What a finished job leaves the reader with: its error, or where its result is."""
    lines = []
    if data.get("errorMessage"):
        lines.append(f"error: {data['errorMessage']}")
    if data.get("resultAssetId"):
        lines.append(f"result asset: {data['resultAssetId']}")
    return lines


def jobs_table(jobs: Iterable[Job]) -> str:
    header = ("ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "MESSAGE")
    rows = [
        (
            job["id"],
            job["jobType"],
            job["status"],
            f"{_percent(job['progress'].get('percent'))}%",
            job["createdAt"][:19].replace("T", " "),
            job["errorMessage"] or job["progress"].get("message") or "",
        )
        for job in jobs
    ]
    return table([header, *rows], right_aligned={3})


def table(rows: Sequence[Sequence[str]], right_aligned: set[int] | None = None) -> str:
    """Columns padded to their widest cell; the last one is not padded (no trailing blanks)."""
    right = right_aligned or set()
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _percent(value: object) -> int:
    return max(0, min(100, value)) if isinstance(value, int) else 0
