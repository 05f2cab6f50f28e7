"""The worker's part of a replica: what `create_app` adds when its role runs jobs.

Imported by the app factory only for the roles `worker` and `all`, so an API replica never
loads the runner, the CPU pool or the callback sender. The order of start-up is the app's:
the database, then `prepare` (the runner, which the listener wakes), then the listener,
then `running` (the runner's loops, the callback sender, the partitions' upkeep); at
shutdown `stop` gives running jobs their grace after the streams were ended.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from service.api import keys
from service.db import partitions
from service.worker.callbacks import CALLBACKS, CallbackSender
from service.worker.runner import RUNNER, Runner
from service.worker.scheduler import SCHEDULER, Scheduler

log = structlog.get_logger(__name__)


async def prepare(app: web.Application) -> AsyncIterator[None]:
    """The runner, built before the listener so that a queued job wakes it."""
    metrics = app[keys.METRICS]
    runner = app[RUNNER] = Runner(
        app[keys.STORE],
        app[keys.SETTINGS],
        app[keys.JOB_TYPES],
        metrics=metrics,
        assets=app[keys.ASSETS],
        tracing=app[keys.TRACING],
    )
    app[keys.ON_QUEUED] = runner.wake
    scheduler = app[SCHEDULER] = Scheduler(
        app[keys.SCHEDULES], app[keys.SETTINGS], app[keys.JOB_TYPES], metrics
    )
    app[keys.ON_SCHEDULES] = scheduler.wake
    metrics.watch("content_jobs_running_jobs", lambda: len(runner.runs))
    yield


async def running(app: web.Application) -> AsyncIterator[None]:
    """The runner, the completion-callback sender (when callbacks are on), the scheduler of
    the schedules' ticks and the upkeep of the events table's day partitions."""
    runner = app[RUNNER]
    sender = None
    if app[keys.CALLBACK_POLICY].enabled and keys.WEBHOOK_SECRETS in app:
        sender = app[CALLBACKS] = CallbackSender(
            app[keys.POOL],
            app[keys.WEBHOOK_SECRETS],
            app[keys.CALLBACK_POLICY],
            app[keys.METRICS],
            app[keys.TRACING],
        )
        runner.on_end = sender.wake
        sender.start()
    runner.start()
    app[SCHEDULER].start()
    maintenance = asyncio.create_task(partitions.keep_ahead_forever(app[keys.POOL]))
    log.info("runner_started", worker_id=runner.worker_id, callbacks=sender is not None)
    yield
    await app[SCHEDULER].close()
    maintenance.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await maintenance
    if sender is not None:
        await sender.close()


async def stop(app: web.Application) -> None:
    """Running jobs get their grace, then the rest are requeued (after streams ended)."""
    await app[RUNNER].stop()
