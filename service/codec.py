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
