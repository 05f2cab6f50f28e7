"""Size limits on what clients send, defined once (routes, OpenAPI and docs import them).

Every limit protects the service from one request that costs far more than the
others: a body held in memory, an input copied into every response and event,
JSON nested deep enough to exhaust an encoder's recursion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MiB = 1024 * 1024
#: a request body (aiohttp refuses a longer one with 413 before the handler reads it)
MAX_BODY_BYTES = MiB
MAX_BODY_MESSAGE = "request body is larger than 1 MiB"
#: `JOB_INPUT_MAX_BYTES`'s default: a job's `input`, as encoded JSON
DEFAULT_INPUT_MAX_BYTES = 256 * 1024
#: nesting of a request body's JSON: far beyond any real input, far below what orjson
#: (254 levels when encoding) and Postgres's jsonb accept, so a deep body is a clean 400
MAX_JSON_DEPTH = 64
#: the times a client may give (`runAt`, a list cursor's): Python's datetime and Postgres's
#: timestamptz hold every one of them in any zone (year 1 or 9999 overflow once converted
#: to UTC), and no job is due before 1970
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 30, tzinfo=UTC)


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit` objects/arrays (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
