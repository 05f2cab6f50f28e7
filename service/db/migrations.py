"""Schema migrations with yoyo (sql/NNNN.name.sql), safe when many replicas start at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import structlog
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

from service.db.queries import SQL_DIR

log = structlog.get_logger(__name__)

#: advisory lock id serialising migrations across replicas ("content-jobs" in ASCII-ish)
_LOCK_ID = 0x636F6E74656E74


def yoyo_url(database_url: str) -> str:
    """yoyo needs a synchronous driver: psycopg 3."""
    _scheme, sep, rest = database_url.partition("://")
    return f"postgresql+psycopg{sep}{rest}"


@contextlib.contextmanager
def _advisory_lock(database_url: str) -> Iterator[None]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


def _migrations() -> MigrationList:
    """The numbered files of sql/ (queries.sql beside them is not a migration)."""
    found = read_migrations(str(SQL_DIR))
    return MigrationList([m for m in found if m.id[:4].isdigit()])


def apply(database_url: str) -> int:
    """Apply pending migrations; returns how many ran. Replicas queue on an advisory lock."""
    migrations = _migrations()
    with _advisory_lock(database_url):
        backend = get_backend(yoyo_url(database_url))
        try:
            with backend.lock():
                pending = backend.to_apply(migrations)
                backend.apply_migrations(pending)
        finally:
            backend.connection.close()
    if pending:
        log.info("migrations_applied", ids=[m.id for m in pending])
    return len(pending)


def known_ids() -> set[str]:
    """The ids of the migration files this code was written for."""
    return {m.id for m in _migrations()}


#: what readiness asks: which migrations this database has applied (yoyo's own table)
APPLIED_IDS_SQL = "SELECT migration_id FROM _yoyo_migration"
