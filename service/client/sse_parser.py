"""An incremental parser of the `text/event-stream` format, as the HTML standard defines it.

Bytes arrive in network chunks that split lines, CRLF pairs and even UTF-8
characters anywhere; `EventStreamParser.feed()` takes them as they come and
returns each event once its blank line has arrived, so a reader never waits
for more than the server has sent. It does no I/O, so it is tested on its own.
"""

from __future__ import annotations

import codecs
import dataclasses
import re

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclasses.dataclass(frozen=True)
class ServerSentEvent:
    """One dispatched event; `id` is the last event id seen so far, as EventSource has it."""

    event: str
    data: str
    id: str


class EventStreamParser:
    """Feed it chunks of a stream; it returns complete events and remembers `retry:`.

    `last_event_id` and `retry` survive across events (they are stream state,
    not event fields), which is what a reconnecting reader needs to resume.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._skip_lf = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self.last_event_id = ""
        #: the reconnection delay the server asked for, in milliseconds
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events = []
        for line in self._lines(self._decoder.decode(chunk)):
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _lines(self, text: str) -> list[str]:
        """Complete lines; a CR ends a line at once, and a LF right after it is skipped."""
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._skip_lf:
            text = text.removeprefix("\n")
        self._buffer += text
        lines, start = [], 0
        for match in _LINE_END.finditer(self._buffer):
            lines.append(self._buffer[start : match.start()])
            start = match.end()
        self._skip_lf = start == len(self._buffer) and self._buffer.endswith("\r")
        self._buffer = self._buffer[start:]
        return lines

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        """A blank line ends an event; one without data is dropped, as EventSource does."""
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(
            event=event or "message", data="\n".join(data), id=self.last_event_id
        )
