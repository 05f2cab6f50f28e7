"""Limits on what clients send, defined once: the routes and the batch that enforce them,
the OpenAPI document, the CLI and the Python client all read them from here
(`tests/unit/test_one_definition_per_concept.py` keeps their numbers from coming back
anywhere else in `service/`; the SQL CHECK constraints that repeat some are held to these
by `tests/integration/test_database_constraints_match_the_domain.py`).

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

#: a list page: `limit` from 1 to `MAX_PAGE_SIZE` jobs, `DEFAULT_PAGE_SIZE` when not given
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
#: jobs in one `:batch` request (each is checked as a single submit is)
MAX_BATCH_ITEMS = 1000
#: `Idempotency-Key` (a batch item's `idempotencyKey`): 1 to this many characters
MAX_IDEMPOTENCY_KEY = 200
#: `dependsOn`: a job runs after 1 to this many jobs
MAX_DEPENDENCIES = 100
#: a child job's `key` (`ctx.submit`), in characters (the column's CHECK holds the same)
MAX_CHILD_KEY = 200
#: `sourceTaskId`, in characters
MAX_SOURCE_TASK_ID = 255
#: `callbackUrl`, in characters (the column's CHECK holds the same)
MAX_CALLBACK_URL = 2000
#: `priority` (higher first) and `maxAttempts`, inclusive
PRIORITY_RANGE = (-100, 100)
MAX_ATTEMPTS_RANGE = (1, 25)
#: `delaySeconds` and `runAt` reach at most this far ahead
MAX_DELAY_SECONDS = 366 * 24 * 3600
#: a schedule's `everySeconds`, inclusive
EVERY_SECONDS_RANGE = (1, 86400)
#: a schedule's `name`, in characters: its jobs' `sourceTaskId` (`schedule:<name>:<tick>`)
#: stays within `MAX_SOURCE_TASK_ID`
MAX_SCHEDULE_NAME = 200
#: a company id: 1 to `MAX_COMPANY_ID` of these characters (URLs, tokens, the database)
MAX_COMPANY_ID = 64
COMPANY_ID_PATTERN = f"[A-Za-z0-9_-]{{1,{MAX_COMPANY_ID}}}"
COMPANY_ID_MESSAGE = f"companyId must be 1-{MAX_COMPANY_ID} characters of A-Z, a-z, 0-9, _ or -"
#: an `X-Request-ID` a client sends is kept (and logged) when it matches; anything else is
#: replaced by one of ours
MAX_REQUEST_ID = 200
REQUEST_ID_PATTERN = f"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID}}}"


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
