"""HTTP conditional and range requests (RFC 9110) for immutable content. No I/O.

Only what clients actually send is served: one byte range per request. A
request for several ranges, or a malformed `Range`, gets the whole content,
which the RFC allows; a range that starts past the end is a 416.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: positions of at most 18 digits (under 2^63): a longer one cannot name a byte of any asset,
#: and int() of thousands of digits is refused by Python itself
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")


class Unsatisfiable(Exception):
    """The requested range lies outside the content (HTTP 416)."""


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names this ETag (weakly compared, as the RFC says) or is `*`."""
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def requested_range(headers: Mapping[str, str], etag: str, size: int) -> tuple[int, int] | None:
    """The `[start, end)` byte range to send, or None for the whole content.

    `If-Range` with another validator than the current ETag asks for the whole
    content (the client's partial copy is stale).
    """
    header = headers.get("Range")
    if header is None:
        return None
    if_range = headers.get("If-Range")
    if if_range is not None and if_range.strip() != etag:
        return None
    return parse_range(header, size)


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` as `[start, end)`; None when it cannot be honoured
    as one range (ignored); raises `Unsatisfiable` when no byte of it exists."""
    match = _RANGE.fullmatch(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    end = size if not last else min(int(last) + 1, size)
    return start, end
