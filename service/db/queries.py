"""Named SQL queries, parsed once from `sql/queries.sql`.

Each block starts with `-- name: <name>` followed by a description comment;
Python code refers to queries only by name, so all runtime SQL sits in one file.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

#: the migrations and queries.sql: package data (`service/sql` links to the checkout's `sql/`,
#: and a wheel carries the files themselves), so an installed wheel needs no checkout
SQL_DIR = Path(str(importlib.resources.files("service") / "sql"))

_HEADER = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def parse(text: str) -> dict[str, str]:
    parts = _HEADER.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = "\n".join(line for line in body.splitlines() if not line.startswith("--")).strip()
        if name in queries:
            raise ValueError(f"query {name} is defined twice")
        queries[name] = sql.rstrip(";")
    return queries


QUERIES = parse((SQL_DIR / "queries.sql").read_text())
