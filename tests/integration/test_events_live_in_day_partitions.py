"""Events live in one partition per UTC day of their job's creation: new jobs have time-
ordered ids whose events land in their day's partition, partitions are made ahead, prune
drops a past day whole once its jobs are gone, and the migration keeps earlier events."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import psycopg
import pytest
from yoyo import get_backend
from yoyo.migrations import MigrationList

from service.assets.storage.postgres import PostgresStorage
from service.assets.store import AssetStore
from service.db import migrations, partitions
from service.db.pool import create_pool
from service.db.prune import prune
from service.db.store import Store, new_job_id
from service.domain.jobs import NewJob
from tests.conftest import with_database

DAYS_30 = datetime.timedelta(days=30)


def id_of_day(day: datetime.date) -> uuid.UUID:
    """A UUIDv7 made at noon UTC of `day`."""
    noon = datetime.datetime.combine(day, datetime.time(12), datetime.UTC)
    millis = int(noon.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (uuid.uuid4().int & ((1 << 76) - 1)))


async def partition_of(db: asyncpg.Connection[Any], job_id: uuid.UUID) -> set[str]:
    rows = await db.fetch(
        "SELECT DISTINCT tableoid::regclass::text AS part FROM content_job_events"
        " WHERE job_id = $1",
        job_id,
    )
    return {row["part"] for row in rows}


async def day_partitions(db: asyncpg.Connection[Any]) -> set[str]:
    rows = await db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'content_job_events'::regclass"
    )
    return {row["relname"] for row in rows}


def name_of(day: datetime.date) -> str:
    return f"content_job_events_p{day:%Y%m%d}"


async def old_job(db: asyncpg.Connection[Any], job_id: uuid.UUID, status: str) -> None:
    """A job of long ago with three events, finished 35 days ago unless still queued."""
    finished = None if status == "queued" else datetime.timedelta(days=35)
    await db.execute(
        """
        INSERT INTO content_jobs (id, company_id, job_type, status, max_attempts,
                                  created_at, finished_at)
        VALUES ($1, 'acme', 'echo', $2, 3, now() - interval '40 days', now() - $3::interval)
        """,
        job_id,
        status,
        finished,
    )
    await db.execute(
        "UPDATE content_jobs SET event_seq = event_seq + 1, progress_percent = 50 WHERE id = $1",
        job_id,
    )
    await db.execute(
        "UPDATE content_jobs SET event_seq = event_seq + 1, progress_percent = 90 WHERE id = $1",
        job_id,
    )


def today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


async def test_a_new_jobs_events_land_in_its_days_partition(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    job_id = new_job_id()
    assert job_id.version == 7
    job = await store.submit(NewJob("acme", "echo", {"text": "hi"}, None, 1))
    assert job.id.version == 7
    assert await partition_of(db, job.id) == {name_of(today())}


async def test_partitions_are_made_a_week_ahead_and_adding_again_adds_none(
    store: Store, db: asyncpg.Connection[Any]
) -> None:
    expected = {name_of(today() + datetime.timedelta(days=d)) for d in range(-1, 8)}
    assert expected <= await day_partitions(db)
    assert await partitions.add_ahead(store.pool) == 0


async def test_prune_drops_a_past_day_whole_once_its_jobs_are_gone(
    db: asyncpg.Connection[Any], asset_store: AssetStore
) -> None:
    gone_day = today() - datetime.timedelta(days=40)
    kept_day = gone_day - datetime.timedelta(days=1)
    await db.execute("SELECT content_job_events_add_partitions($1, $2)", kept_day, gone_day)
    finished = [id_of_day(gone_day) for _ in range(3)]
    for job_id in finished:
        await old_job(db, job_id, "done")
    still_queued, finished_beside_it = id_of_day(kept_day), id_of_day(kept_day)
    await old_job(db, still_queued, "queued")
    await old_job(db, finished_beside_it, "failed")
    assert await partition_of(db, finished[0]) == {name_of(gone_day)}

    result = await prune(asset_store.pool, asset_store, DAYS_30)

    assert result.jobs == 4
    assert result.partitions == [name_of(gone_day)]
    assert name_of(gone_day) not in await day_partitions(db)
    # the day with a job left keeps its partition, and that job keeps every event
    assert name_of(kept_day) in await day_partitions(db)
    seqs = await db.fetch(
        "SELECT seq FROM content_job_events WHERE job_id = $1 ORDER BY seq", still_queued
    )
    assert [row["seq"] for row in seqs] == [1, 2, 3]
    # once that job is gone too, the next prune drops its day
    await db.execute(
        "UPDATE content_jobs SET status = 'cancelled', finished_at = now() - interval '31 days'"
        " WHERE id = $1",
        still_queued,
    )
    result = await prune(asset_store.pool, asset_store, DAYS_30)
    assert (result.jobs, result.partitions) == (1, [name_of(kept_day)])


async def test_a_day_left_detached_by_an_interrupted_prune_is_dropped_by_the_next(
    db: asyncpg.Connection[Any], asset_store: AssetStore
) -> None:
    day = today() - datetime.timedelta(days=40)
    await db.execute("SELECT content_job_events_add_partitions($1, $1)", day)
    # prune detaches a day, then drops it in a transaction of its own: stopped in between
    await db.execute(f"ALTER TABLE content_job_events DETACH PARTITION {name_of(day)}")
    result = await prune(asset_store.pool, asset_store, DAYS_30)
    assert result.partitions == [name_of(day)]
    assert await db.fetchval("SELECT to_regclass($1)", name_of(day)) is None


async def test_events_of_jobs_from_before_partitioning_are_pruned_row_by_row(
    db: asyncpg.Connection[Any], asset_store: AssetStore
) -> None:
    legacy = uuid.uuid4()  # a UUIDv4: no day's range holds it
    await old_job(db, legacy, "done")
    assert await partition_of(db, legacy) == {"content_job_events_default"}
    result = await prune(asset_store.pool, asset_store, DAYS_30)
    assert result.jobs == 1
    assert await db.fetchval("SELECT count(*) FROM content_job_events") == 0


async def test_a_day_whose_rows_went_to_the_default_partition_is_skipped_not_an_error(
    db: asyncpg.Connection[Any],
) -> None:
    day = today() + datetime.timedelta(days=30)  # beyond the week made ahead
    await old_job(db, id_of_day(day), "queued")
    assert await db.fetchval("SELECT content_job_events_add_partitions($1, $1)", day) == 0
    assert name_of(day) not in await day_partitions(db)
    assert await db.fetchval("SELECT count(*) FROM content_job_events_default") == 3


@pytest.fixture
async def asset_store(database_url: str) -> AsyncIterator[AssetStore]:
    pool = await create_pool(database_url, 4)
    yield AssetStore(pool, PostgresStorage(pool))
    await pool.close()


@pytest.fixture
def bare_url(pg_server: str) -> Any:
    """A database with no migrations applied."""
    name = f"bare_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


async def test_the_migration_keeps_earlier_events_and_rolls_back(bare_url: str) -> None:
    backend = get_backend(migrations.yoyo_url(bare_url))
    try:
        every = migrations._migrations()
        before = MigrationList([m for m in every if m.id < "0005"])
        with backend.lock():
            backend.apply_migrations(backend.to_apply(before))
        db = await asyncpg.connect(bare_url)
        try:
            legacy = uuid.uuid4()
            await old_job(db, legacy, "done")
            with backend.lock():
                backend.apply_migrations(backend.to_apply(every))
            assert await partition_of(db, legacy) == {"content_job_events_default"}
            assert await db.fetchval("SELECT count(*) FROM content_job_events") == 3
            with backend.lock():
                after = MigrationList([m for m in every if m.id >= "0005"])
                backend.rollback_migrations(backend.to_rollback(after))
            assert await db.fetchval("SELECT count(*) FROM content_job_events") == 3
            assert await db.fetchval("SELECT to_regclass('content_job_events_default')") is None
        finally:
            await db.close()
    finally:
        backend.connection.close()
