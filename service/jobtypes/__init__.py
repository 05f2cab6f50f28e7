"""Job types: the registry of installed types (built-in ones and plugins).

The public API for writing a type is `service.sdk`; `load()` finds the installed
types at start-up (see `registry.py`).
"""

from service.jobtypes.registry import (
    REGISTRY,
    InvalidInput,
    JobTypeError,
    describe,
    input_schema,
    known_types,
    load,
    validate_input,
)

__all__ = [
    "REGISTRY",
    "InvalidInput",
    "JobTypeError",
    "describe",
    "input_schema",
    "known_types",
    "load",
    "validate_input",
]
