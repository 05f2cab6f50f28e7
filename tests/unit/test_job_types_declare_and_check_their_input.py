"""The built-in job types' inputs: what `sleep`, `echo` and `markdown.html` accept, and the
field path a refusal names (docs/api.md job types: `400` naming the field)."""

from __future__ import annotations

from typing import Any

import pytest

from service.jobtypes import InvalidInput, JobTypes, load, validate_input

INSTALLED: JobTypes = load()


def sleep(data: dict[str, Any]) -> dict[str, Any]:
    return validate_input(INSTALLED["sleep"], data).model_dump()


def test_builtin_types_are_registered() -> None:
    """API job types: `test`, `echo`, `sleep` and `markdown.html` exist; the list is sorted."""
    assert {"test", "echo", "sleep", "markdown.html"} <= set(INSTALLED.names())
    assert INSTALLED.names() == sorted(INSTALLED.names())


def test_test_is_a_no_op_that_accepts_any_object() -> None:
    """API job types: `test` — a no-op; the seed plan submits it with no input at all."""
    assert validate_input(INSTALLED["test"], {}).model_dump() == {}
    assert validate_input(INSTALLED["test"], {"a": 1}).model_dump() == {"a": 1}


def test_echo_accepts_any_object_as_is() -> None:
    """API job types: `echo` — result is the input."""
    data = {"a": [1, {"b": None}], "c": "d"}
    assert validate_input(INSTALLED["echo"], data).model_dump() == data


def test_sleep_defaults() -> None:
    """API job types: `sleep` seconds default 1, steps default 10."""
    assert sleep({}) == {"seconds": 1, "steps": 10, "failAtStep": None, "failAttempts": 0}


@pytest.mark.parametrize(
    "data",
    [
        {"seconds": 0},
        {"seconds": 3600},
        {"seconds": 0.25, "steps": 1},
        {"steps": 1000, "failAtStep": 3},
        {"failAttempts": 2},
    ],
)
def test_sleep_accepts_the_documented_ranges(data: dict[str, Any]) -> None:
    """API job types: seconds 0..3600, steps 1..1000, failAtStep and failAttempts ints."""
    assert sleep(data).items() >= data.items()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"seconds": -0.1}, "input.seconds: "),
        ({"seconds": 3600.5}, "input.seconds: "),
        ({"seconds": "5"}, "input.seconds: "),
        ({"seconds": True}, "input.seconds: "),
        ({"seconds": None}, "input.seconds: "),
        ({"seconds": float("nan")}, "input.seconds: "),
        ({"steps": 0}, "input.steps: "),
        ({"steps": 1001}, "input.steps: "),
        ({"steps": 2.5}, "input.steps: "),
        ({"failAtStep": "1"}, "input.failAtStep: "),
        ({"failAttempts": -1}, "input.failAttempts: "),
        ({"sekonds": 1}, "input.sekonds: "),
    ],
)
def test_sleep_refusals_name_the_field(data: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        sleep(data)
    assert str(caught.value).startswith(path)


def test_sleep_bound_is_in_the_message() -> None:
    with pytest.raises(InvalidInput) as caught:
        sleep({"seconds": 4000})
    assert str(caught.value) == "input.seconds: Input should be less than or equal to 3600"


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({}, "input.markdown: "),
        ({"markdown": 5}, "input.markdown: "),
        ({"markdown": "x", "title": ["t"]}, "input.title: "),
        ({"markdown": "x", "extra": 1}, "input.extra: "),
    ],
)
def test_markdown_refusals_name_the_field(data: dict[str, Any], path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_input(INSTALLED["markdown.html"], data)
    assert str(caught.value).startswith(path)
