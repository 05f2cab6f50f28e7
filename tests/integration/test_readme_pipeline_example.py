"""README "Pipelines": the fan-out/fan-in example, run as printed on two workers: a report
split into one child job per page (`ctx.submit`), joined by a last child that depends on
every page and reads their results (`ctx.dependencies`)."""

from __future__ import annotations

import asyncio
import re
import sys
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.db.store import ListFilter, Store
from service.domain.jobs import Job, NewJob, Status
from service.jobtypes import JobTypes
from service.settings import Settings
from service.worker.runner import Runner

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def example() -> Iterator[types.ModuleType]:
    section = README.read_text().split("## Pipelines", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(# pipeline_example\.py\n.*?)```", section, re.S)
    assert code is not None, "no pipeline_example.py in README's Pipelines"
    module = types.ModuleType("pipeline_example")
    sys.modules[module.__name__] = module  # pydantic resolves the models' annotations there
    exec(compile(code.group(1), "README.md", "exec"), module.__dict__)
    yield module
    del sys.modules[module.__name__]


async def ended(store: Store, job_id: uuid.UUID) -> Job:
    async with asyncio.timeout(20):
        while True:
            job = await store.get("acme", job_id)
            assert job is not None
            if job.status.terminal:
                return job
            await asyncio.sleep(0.02)


async def test_the_fan_out_fan_in_example_joins_every_page(
    example: types.ModuleType, settings: Settings, store: Store, job_types: JobTypes
) -> None:
    types_ = job_types.plus(*example.JOB_TYPES)
    runners = [Runner(store, settings, types_) for _ in range(2)]
    for runner in runners:
        runner.start()
    try:
        parent = await store.submit(
            NewJob("acme", "report.split", {"title": "Q3", "pages": 4}, None, max_attempts=3)
        )
        split = await ended(store, parent.id)
        assert split.status is Status.DONE, split.error_message
        join = await ended(store, uuid.UUID(split.result["join"]))
    finally:
        for runner in runners:
            await runner.stop()
    assert join.status is Status.DONE, join.error_message
    assert join.result == {
        "title": "Q3",
        "text": "Q3, page 1\nQ3, page 2\nQ3, page 3\nQ3, page 4",
    }
    assert join.parent_job_id == parent.id
    assert sorted(map(str, join.depends_on)) == sorted(split.result["pages"])
    children = await store.list_jobs("acme", ListFilter(parent_job_id=parent.id), 50)
    assert len(children) == 5
    assert {child.status for child in children} == {Status.DONE}
