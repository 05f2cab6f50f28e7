"""The database's CHECK constraints say what `service/domain` says: the statuses of
`jobs.Status` (and which are terminal), and the limits of `limits.py` that the schema
repeats. SQL cannot import Python, so this reads the constraints from a migrated database
(`pg_constraint`): a migration or a domain change that moves one side fails here.
"""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from service.domain import limits
from service.domain.jobs import TERMINAL, Status


async def _checks(db: asyncpg.Connection[Any], table: str) -> list[str]:
    rows = await db.fetch(
        "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint"
        " WHERE conrelid = $1::regclass AND contype = 'c'",
        table,
    )
    # a negative number is shown quoted and cast: `'-100'::integer`
    return [re.sub(r"'(-?\d+)'::integer", r"\1", row["def"]) for row in rows]


def _one(checks: list[str], pattern: str) -> str:
    found = [check for check in checks if re.search(pattern, check)]
    assert len(found) == 1, (pattern, checks)
    return found[0]


def _values(check: str) -> set[str]:
    return set(re.findall(r"'(\w+)'::text", check))


async def test_the_status_check_holds_exactly_the_domains_statuses(
    db: asyncpg.Connection[Any],
) -> None:
    checks = await _checks(db, "content_jobs")
    statuses = _one(checks, r"^CHECK \(\(status = ANY")
    assert _values(statuses) == {status.value for status in Status}
    finished = _one(checks, r"finished_at IS NOT NULL")
    assert _values(finished) == TERMINAL


async def test_the_limits_the_schema_repeats_are_the_domains(
    db: asyncpg.Connection[Any],
) -> None:
    checks = await _checks(db, "content_jobs")
    low, high = limits.PRIORITY_RANGE
    priority = _one(checks, r"\(priority >=")
    assert f"(priority >= {low})" in priority and f"(priority <= {high})" in priority
    key = _one(checks, r"char_length\(idempotency_key\)")
    assert f"<= {limits.MAX_IDEMPOTENCY_KEY})" in key
    url = _one(checks, r"char_length\(callback_url\)")
    assert f"<= {limits.MAX_CALLBACK_URL})" in url
    child_key = _one(checks, r"char_length\(child_key\)")
    assert f"<= {limits.MAX_CHILD_KEY})" in child_key
    depends_on = _one(checks, r"cardinality\(depends_on\)")
    assert f"<= {limits.MAX_DEPENDENCIES})" in depends_on
    for table in ("content_jobs", "content_assets"):
        company = _one(await _checks(db, table), r"company_id ~")
        assert f"'^{limits.COMPANY_ID_PATTERN}$'" in company
