"""`service/db/queries.py`: every runtime query is a named block of `sql/queries.sql`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import service
from service.db.queries import QUERIES, SQL_DIR, parse


def test_parse_splits_named_blocks_and_drops_comments() -> None:
    text = """-- file header, not part of any query

-- name: first
-- What the first query does.
SELECT 1;

-- name: second
-- Two lines
-- of description.
SELECT a,
       b -- a trailing comment stays: it is inside the line
FROM t;
"""
    assert parse(text) == {
        "first": "SELECT 1",
        "second": "SELECT a,\n       b -- a trailing comment stays: it is inside the line\nFROM t",
    }


def test_parse_of_a_file_without_names_is_empty() -> None:
    assert parse("-- only a comment\nSELECT 1;\n") == {}


def test_parse_refuses_a_name_defined_twice() -> None:
    with pytest.raises(ValueError, match="query twice is defined twice"):
        parse("-- name: twice\nSELECT 1;\n-- name: twice\nSELECT 2;\n")


def test_header_must_be_exact() -> None:
    """Only `-- name: <word>` at the start of a line opens a block."""
    assert parse("--name: x\nSELECT 1;\n  -- name: y\nSELECT 2;\n") == {}


def test_the_real_file_parses() -> None:
    """Every query the store calls is there, none empty, none ending in `;`."""
    names = re.findall(r"^-- name: (\w+)\s*$", (SQL_DIR / "queries.sql").read_text(), re.M)
    assert sorted(QUERIES) == sorted(names)
    assert {
        "insert_job", "find_by_idempotency_key", "release_idempotency_key", "get_job",
        "get_job_snapshot", "list_jobs", "cancel_job", "claim_jobs", "set_progress",
        "finish_jobs", "requeue_job", "renew_leases", "still_running", "reap_expired_leases",
        "event_seqs", "events_after", "notify_many",
    } <= set(QUERIES)  # fmt: skip
    for name, sql in QUERIES.items():
        assert sql, name
        assert not sql.endswith(";"), name
        assert not any(line.startswith("--") for line in sql.splitlines()), name


def test_the_service_uses_only_named_queries() -> None:
    """STYLE: no SQL strings scattered through Python; every QUERIES[...] name exists."""
    package = Path(service.__file__).parent
    source = "".join(path.read_text() for path in package.rglob("*.py"))
    used = set(re.findall(r'QUERIES\["(\w+)"\]', source))
    assert len(used) > 20
    assert used <= set(QUERIES)
