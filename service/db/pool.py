"""The asyncpg pool and its codecs: JSON columns decode to Python objects."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from service.domain import codec

#: what a lost or restarting database raises
DB_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # e.g. a connection caught mid-operation by a restart
)

#: Postgres error classes that mean "the database is away", not "the request was wrong":
#: connection exceptions (08), operator intervention such as a shutdown (57), insufficient
#: resources (53: too many connections)
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "57", "53")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached right now (the caller may retry),
    as opposed to an error in what was asked of it (a bug, never hidden behind a 503)."""
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "")[:2] in _UNAVAILABLE_SQLSTATE_CLASSES
    return isinstance(exc, DB_ERRORS)


#: how this service's connections show in pg_stat_activity
APP_NAME = "content-jobs"
LISTENER_NAME = "content-jobs-listener"


def dumps(value: Any) -> str:
    return codec.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection[Any]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=dumps, decoder=orjson.loads, schema="pg_catalog")


async def keep_session(conn: asyncpg.Connection[Any]) -> None:
    """The pool's reset: nothing to do, so no round trip on every release.

    asyncpg's default resets a released connection with a query (advisory locks, cursors,
    LISTEN, settings): a second round trip for each of our one-statement operations. Pool
    connections here never change that state (the listener has a connection of its own,
    nothing SETs or locks), and asyncpg still rolls back a transaction left open.
    """


async def create_pool(dsn: str, size: int, statement_cache_size: int = 100) -> asyncpg.Pool[Any]:
    """The replica's pool. It may go through PgBouncer in transaction mode: nothing here keeps
    session state between statements (see `keep_session`); with PgBouncer < 1.21 set
    `statement_cache_size` to 0 (DB_STATEMENT_CACHE_SIZE), as its server connections change
    between statements and a named prepared statement would not be found."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(2, size),
        max_size=size,
        statement_cache_size=statement_cache_size,
        init=init_connection,
        reset=keep_session,
        command_timeout=60,
        timeout=5,  # connecting: a partitioned database answers 503 in seconds, not a minute
        server_settings={"application_name": APP_NAME},
    )
    assert pool is not None
    return pool


async def connect(
    dsn: str, application_name: str = LISTENER_NAME, statement_cache_size: int = 100
) -> asyncpg.Connection[Any]:
    """A connection outside the pool (the listener's, the runner's lease keeper's)."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(
        dsn,
        server_settings={"application_name": application_name},
        statement_cache_size=statement_cache_size,
    )
    await init_connection(conn)
    return conn
