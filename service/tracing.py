"""OpenTelemetry tracing, the one module that knows it (the `tracing` extra).

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a replica exports spans over OTLP/HTTP, configured
by the SDK's own `OTEL_*` variables (`OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`,
`OTEL_BSP_SCHEDULE_DELAY`...): the submit request (a caller's `traceparent` is its parent),
the job's run (claim, handler, terminal write, progress writes as events) continued from the
`traceparent` stored with the job, and each callback attempt (which sends its own).

Unset, nothing here imports OpenTelemetry and nothing costs: the app gets `NO_TRACING`,
whose spans are one shared object that does nothing, and adds no request middleware; the
log processor checks one module flag. That is why the rest of the code sees only this
facade (`Tracing`, `Span`), never the SDK's types.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

Kind = Literal["server", "client", "consumer", "internal"]
#: span attribute values as OpenTelemetry takes them (None values are left out)
Attributes = Mapping[str, str | int | float | bool | None]
#: what a service without `OTEL_SERVICE_NAME` (or `service.name` in
#: `OTEL_RESOURCE_ATTRIBUTES`) is called in the traces
DEFAULT_SERVICE_NAME = "content-jobs"

#: whether some replica of this process traces: the log processor adds nothing otherwise
_active = 0


class Span:
    """A span as the service uses it; this base class is the no-op one (tracing off)."""

    #: the W3C `traceparent` naming this span (None: tracing is off)
    traceparent: str | None = None

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def set_attribute(self, name: str, value: str | int | float | bool | None) -> None:
        """Sets one attribute (a None value is left out)."""

    def add_event(self, name: str, attributes: Attributes) -> None:
        """Records a point in time within the span (a progress write)."""

    def fail(self, description: str) -> None:
        """Marks the span as an error, with what went wrong."""


NO_SPAN = Span()


class Tracing:
    """The tracing of one replica; this base class is the one that is off (`NO_TRACING`)."""

    enabled = False

    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        kind: Kind = "internal",
        start_ns: int | None = None,
        attributes: Attributes | None = None,
    ) -> AbstractContextManager[Span]:
        """A span, current while the `with` block runs: a child of `parent` (a W3C
        traceparent) when given, else of the current span (a new trace when there is none)."""
        return NO_SPAN

    def record(self, name: str, start_ns: int, end_ns: int) -> None:
        """A finished child span of the current one, from its times (the claim of a run,
        which happened before the run's span could be started)."""

    async def close(self) -> None:
        """Exports what is pending and stops (shutdown)."""


NO_TRACING = Tracing()


def create(endpoint: str | None) -> Tracing:
    """The replica's tracing: off without an endpoint, which then imports nothing."""
    return NO_TRACING if endpoint is None else _OtelTracing(endpoint)


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span in hex, for log lines; None when no span is
    current or tracing is off (a flag check: OpenTelemetry is not even imported then)."""
    if not _active:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class _OtelSpan(Span):
    def __init__(self, manager: AbstractContextManager[Any]) -> None:
        self._manager = manager
        self._span: Any = None

    def __enter__(self) -> Span:
        self._span = span = self._manager.__enter__()
        context = span.get_span_context()
        self.traceparent = (
            f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None and not isinstance(exc, asyncio.CancelledError | GeneratorExit):
            self.fail(f"{type(exc).__name__}: {exc}")
        self._manager.__exit__(kind, exc, tb)

    def set_attribute(self, name: str, value: str | int | float | bool | None) -> None:
        if value is not None:
            self._span.set_attribute(name, value)

    def add_event(self, name: str, attributes: Attributes) -> None:
        self._span.add_event(name, {k: v for k, v in attributes.items() if v is not None})

    def fail(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))


class _OtelTracing(Tracing):
    """OpenTelemetry's SDK: a tracer provider of this replica's own (not the global one, so
    replicas in one process, as in the tests, each export and shut down on their own)."""

    enabled = True

    def __init__(self, endpoint: str) -> None:
        global _active
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from service import __version__

        resource = Resource.create({SERVICE_VERSION: __version__})
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
        self._provider: TracerProvider = TracerProvider(resource=resource)
        # the endpoint the settings read, as the SDK would use it (unless the traces have an
        # endpoint of their own); the exporter reads the other OTEL_EXPORTER_OTLP_* itself
        traces = None
        if not os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
            traces = endpoint.rstrip("/") + "/v1/traces"
        self._provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
        self._tracer = self._provider.get_tracer("content-jobs", __version__)
        self._propagator = TraceContextTextMapPropagator()
        self._kinds = {
            "server": trace.SpanKind.SERVER,
            "client": trace.SpanKind.CLIENT,
            "consumer": trace.SpanKind.CONSUMER,
            "internal": trace.SpanKind.INTERNAL,
        }
        self._closed = False
        _active += 1

    def span(
        self,
        name: str,
        *,
        parent: str | None = None,
        kind: Kind = "internal",
        start_ns: int | None = None,
        attributes: Attributes | None = None,
    ) -> AbstractContextManager[Span]:
        context = None
        if parent is not None:  # an invalid traceparent gives an empty context: a new trace
            context = self._propagator.extract({"traceparent": parent})
        manager = self._tracer.start_as_current_span(
            name,
            context=context,
            kind=self._kinds[kind],
            start_time=start_ns,
            attributes={k: v for k, v in (attributes or {}).items() if v is not None},
            record_exception=True,
            set_status_on_exception=False,  # `_OtelSpan` does it, cancellation excepted
        )
        return _OtelSpan(manager)

    def record(self, name: str, start_ns: int, end_ns: int) -> None:
        self._tracer.start_span(name, start_time=start_ns).end(end_time=end_ns)

    async def close(self) -> None:
        """Flushes in a thread: the exporter's requests are blocking, and the receiver may be
        served by this very event loop (a test's)."""
        global _active
        if self._closed:
            return
        self._closed = True
        _active -= 1
        await asyncio.to_thread(self._provider.shutdown)


def is_installed() -> bool:
    """Whether the `tracing` extra is installed (checked at start-up when it is asked for)."""
    import importlib.util

    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
        )
    except ModuleNotFoundError:  # a parent package is missing
        return False


__all__ = ["NO_SPAN", "NO_TRACING", "Span", "Tracing", "create", "current_ids", "is_installed"]
