"""Retention (`content-jobs prune --older-than 30d`): terminal jobs finished before the
cutoff go, with their events, asset rows and stored objects; newer and unfinished
jobs stay whole. Runs once per storage backend."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from service.assets.store import Asset, AssetStore
from service.db.prune import prune
from tests.conftest import ROOT, SECRET

DAYS_30 = timedelta(days=30)


async def make_job(
    db: asyncpg.Connection[Any], status: str, finished_days_ago: int | None
) -> uuid.UUID:
    """A job as the runner leaves it, aged by hand, with two events (any the schema
    appends by itself are kept)."""
    job_id = uuid.uuid4()
    await db.execute(
        """
        INSERT INTO content_jobs
            (id, company_id, job_type, status, max_attempts, worker_id, lease_expires_at,
             created_at, finished_at, event_seq)
        VALUES ($1, 'acme', 'echo', $2, 3,
                CASE WHEN $2 = 'running' THEN 'w1' END,
                CASE WHEN $2 = 'running' THEN now() + interval '1 hour' END,
                now() - interval '90 days', now() - make_interval(days => $3::int), 2)
        """,
        job_id,
        status,
        finished_days_ago,
    )
    await db.executemany(
        "INSERT INTO content_job_events (job_id, seq, event_type, data)"
        " VALUES ($1, $2, 'status', '{}') ON CONFLICT DO NOTHING",
        [(job_id, 1), (job_id, 2)],
    )
    return job_id


async def add_asset(assets: AssetStore, job_id: uuid.UUID) -> Asset:
    return await assets.put("acme", job_id, b"x" * 300_000, "text/plain", "out.txt")


async def setup_jobs(
    db: asyncpg.Connection[Any], assets: AssetStore
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    old = {
        await make_job(db, "done", 40),
        await make_job(db, "failed", 31),
        await make_job(db, "cancelled", 365),
        await make_job(db, "done", 45),
    }
    kept = {
        await make_job(db, "done", 29),  # finished, but not long enough ago
        await make_job(db, "queued", None),  # created 90 days ago, never finished
        await make_job(db, "running", None),
    }
    return old, kept


async def test_prune_deletes_old_terminal_jobs_with_everything_they_left(
    db: asyncpg.Connection[Any], asset_store: AssetStore
) -> None:
    old, kept = await setup_jobs(db, asset_store)
    old_assets = [await add_asset(asset_store, job_id) for job_id in old for _ in range(2)]
    kept_assets = [await add_asset(asset_store, job_id) for job_id in kept]

    result = await prune(asset_store.pool, asset_store, DAYS_30, batch_size=3)

    assert (result.jobs, result.assets) == (len(old), len(old_assets))
    assert {r["id"] for r in await db.fetch("SELECT id FROM content_jobs")} == kept
    events = await db.fetch("SELECT DISTINCT job_id FROM content_job_events")
    assert {r["job_id"] for r in events} == kept
    rows = await db.fetch("SELECT id FROM content_assets")
    assert {r["id"] for r in rows} == {a.id for a in kept_assets}
    for asset in old_assets:
        assert await asset_store.storage.head(asset.object_key) is None
    for asset in kept_assets:
        assert await asset_store.storage.head(asset.object_key) is not None
    chunk_keys = await db.fetch("SELECT DISTINCT object_key FROM content_asset_chunks")
    assert {r["object_key"] for r in chunk_keys} <= {a.object_key for a in kept_assets}


async def test_concurrent_prunes_share_the_work(
    db: asyncpg.Connection[Any], asset_store: AssetStore
) -> None:
    old, kept = await setup_jobs(db, asset_store)
    for job_id in old:
        await add_asset(asset_store, job_id)

    results = await asyncio.gather(
        *(prune(asset_store.pool, asset_store, DAYS_30, batch_size=1) for _ in range(3))
    )

    assert sum(r.jobs for r in results) == len(old)
    assert sum(r.assets for r in results) == len(old)
    assert {r["id"] for r in await db.fetch("SELECT id FROM content_jobs")} == kept


async def test_nothing_to_prune(db: asyncpg.Connection[Any], asset_store: AssetStore) -> None:
    await make_job(db, "done", 1)
    result = await prune(asset_store.pool, asset_store, DAYS_30)
    assert (result.jobs, result.assets) == (0, 0)
    assert await db.fetchval("SELECT count(*) FROM content_jobs") == 1


@pytest.mark.parametrize("storage", ["postgres"], indirect=True)
async def test_the_prune_command(
    db: asyncpg.Connection[Any], asset_store: AssetStore, database_url: str
) -> None:
    """`content-jobs prune --older-than 30d`, as a CronJob runs it: a process of its own."""
    gone = await make_job(db, "done", 31)
    await add_asset(asset_store, gone)
    kept = await make_job(db, "done", 1)

    code, out, err = await run_cli("prune", "--older-than", "30d", database_url=database_url)

    assert code == 0, err
    assert "pruned 1 job(s) and 1 asset(s)" in out
    assert {r["id"] for r in await db.fetch("SELECT id FROM content_jobs")} == {kept}


@pytest.mark.parametrize("duration", ["30", "30x", "d", "-1d", "1.5h"])
async def test_the_prune_command_rejects_bad_durations(duration: str) -> None:
    code, _, err = await run_cli("prune", "--older-than", duration, database_url="")
    assert code == 2
    assert "--older-than" in err


async def run_cli(*args: str, database_url: str) -> tuple[int, str, str]:
    env = {"DATABASE_URL": database_url, "AUTH_JWT_SECRET": SECRET, "LOG_FORMAT": "json"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "service",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()
