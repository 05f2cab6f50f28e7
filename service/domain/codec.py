"""The one JSON codec of the service (orjson: UUIDs, UTC times with `Z`).

The domain, the database layer and the HTTP layer all encode through here, so a
job reads the same in a response, an event row and a callback body.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC

loads = orjson.loads


def _default(value: Any) -> str:
    """asyncpg's own UUID type is not the stdlib one orjson knows."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def has_nul(value: Any) -> bool:
    """Whether a NUL character is in any string (key or value) of a JSON-like value: JSON
    allows `\\u0000`, Postgres's jsonb and text refuse it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(item) for item in value)
    return False


def without_nul(text: str) -> str:
    """Text Postgres can store: each NUL character replaced by U+FFFD (error messages and
    progress written by handlers, where the rest of the text is worth keeping)."""
    return text.replace("\x00", "\ufffd")
