"""The peer: procrastinate running a no-op task, as a worker process of its own.

`python -m bench.peer DSN CONCURRENCY` runs one procrastinate worker until
SIGTERM. The benchmark defers the jobs in bulk with `defer_jobs` from its own
process and reads the outcome from `procrastinate_events`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from procrastinate import App


def make_app(dsn: str) -> App:
    # imported here: the bench extra may be missing where only the smoke tests run
    from procrastinate import App, PsycopgConnector

    app = App(connector=PsycopgConnector(conninfo=dsn))

    @app.task(name="noop", queue="bench")
    async def noop() -> None:
        return None

    return app


async def defer_jobs(dsn: str, count: int) -> None:
    """`count` no-op jobs in one statement, like our bulk insert."""
    app = make_app(dsn)
    async with app.open_async():
        await app.tasks["noop"].batch_defer_async(*([{}] * count))


async def work(dsn: str, concurrency: int) -> None:
    app = make_app(dsn)
    async with app.open_async():
        await app.run_worker_async(concurrency=concurrency, queues=["bench"], wait=True)


async def apply_schema(dsn: str) -> None:
    app = make_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


if __name__ == "__main__":
    asyncio.run(work(sys.argv[1], int(sys.argv[2])))
