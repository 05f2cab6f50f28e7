"""Job types: the registry of installed types (built-in ones and plugins).

The public API for writing a type is `service.sdk`; `load()` finds the installed
types at start-up, as a `JobTypes` (see `registry.py`).
"""

from service.jobtypes.registry import (
    InvalidInput,
    JobTypeError,
    JobTypes,
    describe,
    input_schema,
    load,
    validate_input,
)

__all__ = [
    "InvalidInput",
    "JobTypeError",
    "JobTypes",
    "describe",
    "input_schema",
    "load",
    "validate_input",
]
