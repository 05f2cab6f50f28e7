"""Job types: importing this package registers every built-in type."""

from service.jobtypes import echo, markdown_html, sleep
from service.jobtypes.registry import REGISTRY, InvalidInput, JobContext, JobType, known_types

__all__ = [
    "REGISTRY",
    "InvalidInput",
    "JobContext",
    "JobType",
    "echo",
    "known_types",
    "markdown_html",
    "sleep",
]
