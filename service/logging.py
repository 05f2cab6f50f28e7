"""structlog configuration: JSON lines for machines, readable lines for people.

Everything a replica prints goes through here: its own structlog events, and the standard
library's logging of its dependencies (aiohttp, asyncpg, yoyo, botocore) and Python's
warnings, rendered by the same renderer — with `LOG_FORMAT=json` every line is one JSON
object. structlog's own events take the fast path (a cached logger, no logging module).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

import orjson
import structlog

from service import tracing


def _json(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def add_trace_ids(_: Any, __: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """`trace_id` and `span_id` of the current span, when tracing is on and a span is current
    (a request, a run, a callback attempt), so a log line leads to its trace and back."""
    ids = tracing.current_ids()
    if ids is not None:
        event["trace_id"], event["span_id"] = ids
    return event


def configure(log_format: Literal["json", "console"] = "json", level: str = "info") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                add_trace_ids,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric_level)
    logging.captureWarnings(True)
