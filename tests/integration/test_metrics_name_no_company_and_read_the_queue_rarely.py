"""`/metrics` names no company unless METRICS_COMPANY_LABELS=true, and reads the queue
statistics (a GROUP BY over the whole queue) at most once per cache window, however many
scrapers ask at once."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from service.api import keys
from service.metrics import QueueStats
from tests.conftest import Client, MakeClient, auth
from tests.integration.helpers import jobs_path

COMPANY = "tenant-7f3a9c"


def gauge(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {
        frozenset(s.labels.items()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


def count_stats_reads(client: Client) -> list[int]:
    """Counts the store's queue_stats calls; returns the counter (a one-item list)."""
    store = client.app[keys.STORE]
    original = store.queue_stats
    reads = [0]

    async def counted() -> QueueStats:
        reads[0] += 1
        return await original()

    store.queue_stats = counted  # type: ignore[method-assign]
    return reads


async def test_without_company_labels_the_metrics_name_no_company(client: Client) -> None:
    for _ in range(2):
        resp = await client.post(
            jobs_path(COMPANY), json={"jobType": "echo"}, headers=auth(COMPANY)
        )
        assert resp.status == 202
    text = await (await client.get("/metrics")).text()
    assert COMPANY not in text
    assert gauge(text, "content_jobs_queue_depth") == {frozenset(): 2}
    [oldest] = gauge(text, "content_jobs_oldest_ready_age_seconds").items()
    assert oldest[0] == frozenset() and oldest[1] >= 0


async def test_company_labels_are_opt_in(make_client: MakeClient) -> None:
    client = await make_client(metrics_company_labels=True)
    await client.post(jobs_path(COMPANY), json={"jobType": "echo"}, headers=auth(COMPANY))
    text = await (await client.get("/metrics")).text()
    assert gauge(text, "content_jobs_queue_depth") == {frozenset({("company", COMPANY)}): 1}


async def test_two_scrapes_within_the_window_read_the_queue_once(client: Client) -> None:
    reads = count_stats_reads(client)
    first = await (await client.get("/metrics")).text()
    resp = await client.post(jobs_path(), json={"jobType": "echo"}, headers=auth())
    assert resp.status == 202
    second = await (await client.get("/metrics")).text()
    assert reads[0] == 1
    # the second scrape shows the cached figures, not the job submitted in between
    assert gauge(second, "content_jobs_queue_depth") == gauge(first, "content_jobs_queue_depth")


async def test_concurrent_scrapes_share_one_read(client: Client) -> None:
    metrics = client.app[keys.METRICS]
    metrics.queue_max_age = 0  # every scrape wants a fresh read: only the sharing saves one
    store = client.app[keys.STORE]
    original = store.queue_stats
    release = asyncio.Event()
    reads = 0

    async def slow() -> QueueStats:
        nonlocal reads
        reads += 1
        await release.wait()
        return await original()

    store.queue_stats = slow  # type: ignore[method-assign]
    arrived = 0
    all_arrived = asyncio.Event()
    refresh = metrics.refresh_queue

    async def counting_refresh(read: Any) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            all_arrived.set()
        await refresh(read)

    metrics.refresh_queue = counting_refresh  # type: ignore[method-assign]
    scrapes = [asyncio.ensure_future(client.get("/metrics")) for _ in range(5)]
    async with asyncio.timeout(10):
        await all_arrived.wait()
        release.set()
        responses = await asyncio.gather(*scrapes)
    assert [r.status for r in responses] == [200] * 5
    assert reads == 1
