"""README "Tracing": with `OTEL_EXPORTER_OTLP_ENDPOINT` set, one job is one trace, from a
caller's `traceparent` through the submit request, the run (claim, handler, final write,
progress as events) to each callback attempt, whose receiver gets a `traceparent` of that
trace. Checked against a real OTLP/HTTP receiver on loopback: the exporter's protobuf is
decoded with the classes of `opentelemetry-proto`, nothing is mocked. Off, nothing of
OpenTelemetry is even imported."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from service import tracing
from service.logging import add_trace_ids
from tests.conftest import ROOT, Client, MakeClient, auth
from tests.integration.helpers import jobs_path

pytestmark = pytest.mark.timeout(60)
HOOK_SECRET = "webhook-secret-that-is-long-enough-for-hmac"
SUBMIT_SPAN = "POST /api/companies/{companyId}/content-jobs"


class Collector:
    """An OTLP/HTTP trace receiver: `POST /v1/traces`, protobuf in, spans kept by name."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.service_names: set[str] = set()
        self.content_types: set[str] = set()
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def traces(self, request: web.Request) -> web.Response:
        self.content_types.add(request.content_type)
        export = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in export.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    self.service_names.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        self.arrived.set()
        body = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=body, content_type="application/x-protobuf")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self.traces)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"

    def named(self, name: str) -> list[Span]:
        return [span for span in self.spans if span.name == name]

    async def wait_for(self, *names: str, timeout: float = 20) -> None:
        """Until a span of each name has arrived."""
        async with asyncio.timeout(timeout):
            while not all(self.named(name) for name in names):
                self.arrived.clear()
                await self.arrived.wait()


class Hook:
    """The callback receiver: keeps each delivery's headers."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        self.arrived = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        self.headers.append(dict(request.headers))
        self.arrived.set()
        return web.Response()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"


@pytest.fixture
async def collector(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Collector]:
    # the SDK's own variable: spans are exported within 50 ms, not 5 s
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    collector = Collector()
    await collector.start()
    yield collector
    assert collector.runner is not None
    await collector.runner.cleanup()


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    hook = Hook()
    await hook.start()
    yield hook
    assert hook.runner is not None
    await hook.runner.cleanup()


@pytest.fixture
async def traced(make_client: MakeClient, collector: Collector) -> Client:
    return await make_client(
        role="all",
        job_lease_seconds=3.0,
        webhook_allowed_hosts=("127.0.0.1",),
        webhook_secret=HOOK_SECRET,
        otel_exporter_otlp_endpoint=collector.url,
    )


def hex_id(raw: bytes) -> str:
    return raw.hex()


async def test_a_job_is_one_trace_from_the_callers_request_to_its_callback(
    traced: Client, collector: Collector, hook: Hook, db: Any
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    resp = await traced.post(
        jobs_path(),
        json={
            "jobType": "sleep",
            "input": {"seconds": 0.3, "steps": 2},
            "callbackUrl": hook.url,
        },
        headers={**auth(), "traceparent": f"00-{trace_id}-{caller_span}-01"},
    )
    assert resp.status == 202
    job_id = (await resp.json())["jobId"]
    async with asyncio.timeout(20):
        await hook.arrived.wait()
    await collector.wait_for(SUBMIT_SPAN, "run sleep", "claim", "handler", "finish", "callback")
    assert collector.content_types == {"application/x-protobuf"}
    assert collector.service_names == {tracing.DEFAULT_SERVICE_NAME}
    in_trace = [span for span in collector.spans if hex_id(span.trace_id) == trace_id]

    def one(name: str) -> Span:
        found = [span for span in in_trace if span.name == name]
        assert len(found) == 1, f"{name}: {[s.name for s in in_trace]}"
        return found[0]

    submit = one(SUBMIT_SPAN)
    assert hex_id(submit.parent_span_id) == caller_span
    assert submit.kind == Span.SPAN_KIND_SERVER
    stored = await db.fetchval("SELECT trace_context FROM content_jobs WHERE id = $1::uuid", job_id)
    assert stored == f"00-{trace_id}-{hex_id(submit.span_id)}-01"

    run = one("run sleep")
    assert hex_id(run.parent_span_id) == hex_id(submit.span_id)
    assert run.kind == Span.SPAN_KIND_CONSUMER
    attributes = {a.key: a.value for a in run.attributes}
    assert attributes["content_jobs.job_id"].string_value == job_id
    for child in ("claim", "handler", "finish"):
        assert one(child).parent_span_id == run.span_id, child
    assert one("claim").start_time_unix_nano == run.start_time_unix_nano
    progress = [
        {a.key: a.value.int_value for a in event.attributes if a.key == "percent"}
        for event in run.events
        if event.name == "progress"
    ]
    assert progress == [{"percent": 50}, {"percent": 100}]

    callback = one("callback")
    assert callback.kind == Span.SPAN_KIND_CLIENT
    assert hex_id(callback.parent_span_id) == hex_id(submit.span_id)
    sent = hook.headers[0]["traceparent"]
    assert sent == f"00-{trace_id}-{hex_id(callback.span_id)}-01"


async def test_a_submit_without_traceparent_starts_its_own_trace(
    traced: Client, collector: Collector
) -> None:
    resp = await traced.post(jobs_path(), json={"jobType": "echo", "input": {}}, headers=auth())
    assert resp.status == 202
    await collector.wait_for(SUBMIT_SPAN, "run echo")
    submit, run = collector.named(SUBMIT_SPAN)[0], collector.named("run echo")[0]
    assert submit.parent_span_id == b""
    assert (run.trace_id, run.parent_span_id) == (submit.trace_id, submit.span_id)


async def test_log_lines_carry_the_current_trace_id(collector: Collector) -> None:
    on = tracing.create(collector.url)
    try:
        assert add_trace_ids(None, "info", {}) == {}  # no span is current
        with on.span("work") as span:
            assert span.traceparent is not None
            event = add_trace_ids(None, "info", {"event": "x"})
            assert event["trace_id"] == span.traceparent[3:35]
            assert event["span_id"] == span.traceparent[36:52]
    finally:
        await on.close()
    await collector.wait_for("work")


def test_tracing_off_imports_no_opentelemetry() -> None:
    """Off, a replica of role `all` is built, a span is asked for and a line is logged
    without OpenTelemetry in `sys.modules` (nothing loaded, nothing to pay)."""
    code = (
        "import sys\n"
        "from service.app import create_app\n"
        "from service.settings import Settings\n"
        "from service.logging import add_trace_ids\n"
        "s = Settings.from_env({'DATABASE_URL': 'postgresql://x/y', "
        "'AUTH_JWT_SECRET': 'x' * 32}, role='all')\n"
        "app = create_app(s)\n"
        "from service.api import keys\n"
        "with app[keys.TRACING].span('x') as span: assert span.traceparent is None\n"
        "assert add_trace_ids(None, 'info', {}) == {}\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=60)
