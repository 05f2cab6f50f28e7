"""Adding and dropping the events' day partitions never holds up the writers of events:
behind a long transaction on the events table, a partition change waits at most a moment
for its locks (submits meanwhile take well under a second, where they used to queue behind
the change for as long as that transaction lasted), gives way, and is done once the
transaction ends."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import pytest
from structlog.testing import capture_logs

from service.assets.storage.postgres import PostgresStorage
from service.assets.store import AssetStore
from service.db import partitions
from service.db.pool import create_pool
from service.db.prune import prune
from service.db.store import Store, new_job_id
from service.domain.jobs import NewJob

#: a submit may wait this long for a partition change: the change waits at most 200 ms for
#: its locks (it waited 5 s before 0008), and a loaded CI machine has stalled a commit 0.8 s
MARGIN_SECONDS = 2.0
#: how long submits are measured while the holder holds
SUBMITTING_SECONDS = 0.6

Holder = Callable[["asyncpg.Connection[Any]"], Awaitable[None]]


async def writes_an_event(conn: asyncpg.Connection[Any]) -> None:
    """An open transaction that has submitted a job (its trigger wrote an event)."""
    await conn.execute(
        "INSERT INTO content_jobs (id, company_id, job_type, status, max_attempts)"
        " VALUES ($1, 'acme', 'echo', 'queued', 3)",
        new_job_id(),
    )


async def reads_the_events(conn: asyncpg.Connection[Any]) -> None:
    """An open transaction reading events (the least lock there is, on every partition)."""
    await conn.execute("LOCK TABLE content_job_events IN ACCESS SHARE MODE")


HOLDERS = [pytest.param(writes_an_event, id="writer"), pytest.param(reads_the_events, id="reader")]


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


def name_of(day: datetime.date) -> str:
    return f"content_job_events_p{day:%Y%m%d}"


async def exists(db: asyncpg.Connection[Any], name: str) -> bool:
    return await db.fetchval("SELECT to_regclass($1) IS NOT NULL", name) is True


async def until_waiting_or_done(db: asyncpg.Connection[Any], change: asyncio.Task[Any]) -> None:
    """Until the change waits for a lock on a table (or has needed none and is done)."""
    async with asyncio.timeout(10):
        while not change.done():
            if await db.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ):
                return
            await asyncio.sleep(0.005)


async def slowest_submit(store: Store) -> tuple[float, asyncio.Future[Any] | None]:
    """Submit one job after another for SUBMITTING_SECONDS: the longest one took, and a
    submit still waiting after twice the margin (counted as that long) if there was one."""
    loop = asyncio.get_running_loop()
    slowest = 0.0
    end = loop.time() + SUBMITTING_SECONDS
    while loop.time() < end:
        began = loop.time()
        submit = asyncio.ensure_future(
            store.submit(NewJob("acme", "echo", {"text": "hi"}, None, 1))
        )
        done, _ = await asyncio.wait({submit}, timeout=2 * MARGIN_SECONDS)
        slowest = max(slowest, loop.time() - began)
        if not done:
            return slowest, submit
    return slowest, None


@pytest.fixture
async def holder_conn(database_url: str) -> AsyncIterator[asyncpg.Connection[Any]]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def asset_store(database_url: str) -> AsyncIterator[AssetStore]:
    pool = await create_pool(database_url, 4)
    yield AssetStore(pool, PostgresStorage(pool))
    await pool.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry soon after the holder lets go, so the test takes a second, not several."""
    monkeypatch.setattr(partitions, "RETRY_MAX_DELAY", 0.2, raising=False)


async def stalls(
    store: Store,
    db: asyncpg.Connection[Any],
    holder_conn: asyncpg.Connection[Any],
    hold: Holder,
    change: Callable[[], Awaitable[Any]],
) -> tuple[float, Any, list[MutableMapping[str, Any]]]:
    """Run `change` while `hold` holds its transaction open: the slowest submit meanwhile,
    what the change returned once the holder let go, and the log entries."""
    with capture_logs() as logs:
        holding = holder_conn.transaction()
        await holding.start()
        try:
            await hold(holder_conn)
            changing = asyncio.ensure_future(change())
            await until_waiting_or_done(db, changing)
            slowest, stuck = await slowest_submit(store)
        finally:
            await holding.rollback()
        result = await asyncio.wait_for(changing, 10)
        if stuck is not None:
            await stuck
    return slowest, result, logs


@pytest.mark.parametrize("hold", HOLDERS)
async def test_adding_a_partition_behind_a_long_transaction_does_not_hold_up_submits(
    store: Store,
    db: asyncpg.Connection[Any],
    holder_conn: asyncpg.Connection[Any],
    hold: Holder,
) -> None:
    last_day = name_of(today() + datetime.timedelta(days=partitions.DAYS_AHEAD))
    await db.execute(f"DROP TABLE {last_day}")

    slowest, added, _ = await stalls(
        store, db, holder_conn, hold, lambda: partitions.add_ahead(store.pool)
    )

    assert slowest < MARGIN_SECONDS
    assert added == 1
    assert await exists(db, last_day)


@pytest.mark.parametrize("hold", HOLDERS)
async def test_dropping_a_partition_behind_a_long_transaction_does_not_hold_up_submits(
    store: Store,
    db: asyncpg.Connection[Any],
    holder_conn: asyncpg.Connection[Any],
    asset_store: AssetStore,
    hold: Holder,
) -> None:
    past_day = today() - datetime.timedelta(days=40)
    await db.execute("SELECT content_job_events_add_partitions($1, $1)", past_day)

    slowest, result, logs = await stalls(
        store,
        db,
        holder_conn,
        hold,
        lambda: prune(asset_store.pool, asset_store, datetime.timedelta(days=30)),
    )

    assert slowest < MARGIN_SECONDS
    # it gave way to the holder, and was done on a later try
    assert any(entry["event"] == "event_partitions_lock_busy" for entry in logs)
    assert result.partitions == [name_of(past_day)]
    assert not await exists(db, name_of(past_day))
