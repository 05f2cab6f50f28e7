"""Byte ranges and ETags (RFC 9110) for asset content, and its download name."""

from __future__ import annotations

import pytest

from service.api.asset_routes import content_disposition
from service.api.ranges import Unsatisfiable, etag_matches, parse_range, requested_range

ETAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-0", 10, (0, 1)),
        ("bytes=10-", 100, (10, 100)),
        ("bytes=-5", 100, (95, 100)),
        ("bytes=-500", 100, (0, 100)),
        ("bytes=5-500", 100, (5, 100)),
        ("bytes = 1 - 2", 100, (1, 3)),
        ("bytes=0-1,4-5", 100, None),  # several ranges: the whole content
        ("bytes=5-4", 100, None),  # invalid: ignored
        ("bytes=-", 100, None),
        ("items=0-1", 100, None),
        ("bytes=a-b", 100, None),
    ],
)
def test_parse_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=10-", 10), ("bytes=-0", 10), ("bytes=-1", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_if_range() -> None:
    assert requested_range({"Range": "bytes=0-1"}, ETAG, 10) == (0, 2)
    assert requested_range({"Range": "bytes=0-1", "If-Range": ETAG}, ETAG, 10) == (0, 2)
    assert requested_range({"Range": "bytes=0-1", "If-Range": '"old"'}, ETAG, 10) is None
    assert requested_range({}, ETAG, 10) is None


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_etag_matches(header: str | None, matches: bool) -> None:
    assert etag_matches(header, ETAG) is matches


def test_content_disposition_is_safe_for_any_name() -> None:
    assert content_disposition("a.html") == ("inline; filename=\"a.html\"; filename*=UTF-8''a.html")
    header = content_disposition('rés"umé\\.pdf')
    assert header.startswith('inline; filename="r_s_um__.pdf";')
    assert header.endswith("filename*=UTF-8''r%C3%A9s%22um%C3%A9%5C.pdf")
