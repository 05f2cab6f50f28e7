"""The event-stream parser on the input real networks and servers produce (HTML standard, 9.2)."""

from __future__ import annotations

import pytest

from service.client.sse_parser import EventStreamParser, ServerSentEvent

STREAM = (
    b": ping\n\n"
    b'event: status\nid: 1\ndata: {"status": "queued"}\n\n'
    b"retry: 2500\n"
    b'event: progress\nid: 2\ndata: {"status": "running",\n'
    b'data:  "percent": 40}\n\n'
)
EXPECTED = [
    ServerSentEvent("status", '{"status": "queued"}', "1"),
    ServerSentEvent("progress", '{"status": "running",\n "percent": 40}', "2"),
]


def parse(*chunks: bytes) -> list[ServerSentEvent]:
    parser = EventStreamParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_events_comments_and_multi_line_data() -> None:
    assert parse(STREAM) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_events_split_across_chunks_anywhere(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert parse(*chunks) == EXPECTED


@pytest.mark.parametrize("newline", [b"\r\n", b"\r", b"\n"])
def test_every_line_ending(newline: bytes) -> None:
    assert parse(STREAM.replace(b"\n", newline)) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    """A CR at a chunk's end, its LF in the next: one line end, not an extra blank line."""
    events = parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert events == [ServerSentEvent("message", "a\nb", "")]


def test_a_cr_ends_a_line_at_once_without_waiting_for_more() -> None:
    parser = EventStreamParser()
    assert parser.feed(b"data: x\r\r") == [ServerSentEvent("message", "x", "")]
    assert parser.feed(b"\ndata: y\n\n") == [ServerSentEvent("message", "y", "")]


def test_utf8_split_inside_a_character_and_a_leading_bom() -> None:
    raw = "\ufeffdata: étape 1 ✓\n\n".encode()
    assert parse(*[raw[i : i + 1] for i in range(len(raw))]) == [
        ServerSentEvent("message", "étape 1 ✓", "")
    ]


def test_retry_sets_the_reconnection_delay_and_ignores_non_digits() -> None:
    parser = EventStreamParser()
    parser.feed(b"retry: 1500\n\nretry: soon\n\nretry: -1\n\n")
    assert parser.retry == 1500


def test_the_last_event_id_carries_over_to_events_without_one() -> None:
    events = parse(b"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == ["7", "7", ""]


def test_field_syntax_edge_cases() -> None:
    """No space after the colon, a field without colon, unknown fields, an id with NUL."""
    events = parse(b"data:tight\ndata\nfoo: bar\nid: 1\0\nevent:x\n\n")
    assert events == [ServerSentEvent("x", "tight\n", "")]


def test_an_event_without_data_is_not_dispatched_and_resets_its_type() -> None:
    assert parse(b"event: status\nid: 3\n\ndata: d\n\n") == [ServerSentEvent("message", "d", "3")]


def test_an_unfinished_event_at_the_end_is_not_dispatched() -> None:
    assert parse(b"data: complete\n\ndata: cut off\n") == [
        ServerSentEvent("message", "complete", "")
    ]
