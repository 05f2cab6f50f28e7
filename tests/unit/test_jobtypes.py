"""The job types' input checks: what `sleep` and `echo` accept, and the field a refusal names."""

from __future__ import annotations

from typing import Any

import pytest

from service.jobtypes import REGISTRY, InvalidInput, known_types
from service.jobtypes.registry import integer, number, reject_unknown, string

sleep = REGISTRY["sleep"].validate
echo = REGISTRY["echo"].validate


def test_builtin_types_are_registered() -> None:
    """CONTRACT job types: `echo` and `sleep` exist; the list is sorted (for error messages)."""
    assert {"echo", "sleep"} <= set(known_types())
    assert known_types() == sorted(known_types())


def test_echo_accepts_any_object_as_is() -> None:
    """CONTRACT job types: `echo` — result is the input."""
    data = {"a": [1, {"b": None}], "c": "d"}
    assert echo(data) == data
    assert echo({}) == {}


def test_sleep_defaults() -> None:
    """CONTRACT job types: `sleep` seconds default 1, steps default 10, failAtStep optional."""
    assert sleep({}) == {"seconds": 1.0, "steps": 10, "failAtStep": None}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"seconds": 0}, {"seconds": 0.0, "steps": 10, "failAtStep": None}),
        ({"seconds": 3600}, {"seconds": 3600.0, "steps": 10, "failAtStep": None}),
        ({"seconds": 0.25, "steps": 1}, {"seconds": 0.25, "steps": 1, "failAtStep": None}),
        ({"steps": 1000, "failAtStep": 3}, {"seconds": 1.0, "steps": 1000, "failAtStep": 3}),
        ({"steps": None, "failAtStep": None}, {"seconds": 1.0, "steps": 10, "failAtStep": None}),
    ],
)
def test_sleep_accepts_the_documented_ranges(
    data: dict[str, Any], expected: dict[str, Any]
) -> None:
    """CONTRACT job types: seconds 0..3600, steps 1..1000, failAtStep an int."""
    assert sleep(data) == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"seconds": -0.1}, "input.seconds must be a number from 0 to 3600"),
        ({"seconds": 3600.5}, "input.seconds must be a number from 0 to 3600"),
        ({"seconds": "5"}, "input.seconds must be a number from 0 to 3600"),
        ({"seconds": True}, "input.seconds must be a number from 0 to 3600"),
        ({"seconds": None}, "input.seconds must be a number from 0 to 3600"),
        ({"seconds": float("nan")}, "input.seconds must be a number from 0 to 3600"),
        ({"steps": 0}, "input.steps must be an integer from 1 to 1000"),
        ({"steps": 1001}, "input.steps must be an integer from 1 to 1000"),
        ({"steps": 2.0}, "input.steps must be an integer"),
        ({"steps": False}, "input.steps must be an integer"),
        ({"failAtStep": "1"}, "input.failAtStep must be an integer"),
        ({"failAtStep": 0}, "input.failAtStep must be an integer from 1 to 1000"),
        ({"secs": 1}, "input.secs is not a known field"),
        ({"b": 1, "a": 2}, "input.a is not a known field"),
    ],
)
def test_sleep_rejects_bad_input_naming_the_field(data: dict[str, Any], message: str) -> None:
    """CONTRACT job types: `400` on bad input; the message names the field."""
    with pytest.raises(InvalidInput) as caught:
        sleep(data)
    assert str(caught.value) == message


def test_invalid_input_is_a_value_error() -> None:
    assert issubclass(InvalidInput, ValueError)


def test_shared_checks() -> None:
    """The registry's helpers, which new job types reuse."""
    assert number({"x": 2}, "x", 0, 5, default=1) == 2.0
    assert number({}, "x", 0, 5, default=1) == 1.0
    assert integer({}, "n") is None
    assert integer({"n": 10**6}, "n") == 10**6
    assert string({"s": "ab"}, "s", required=True, max_length=2) == "ab"
    assert string({}, "s", required=False, max_length=2) is None
    reject_unknown({"a": 1}, {"a", "b"})
    with pytest.raises(InvalidInput, match=r"^input\.s is required$"):
        string({}, "s", required=True, max_length=2)
    with pytest.raises(InvalidInput, match=r"^input\.s must be a string$"):
        string({"s": 1}, "s", required=True, max_length=2)
    with pytest.raises(InvalidInput, match=r"^input\.s must be at most 2 characters$"):
        string({"s": "abc"}, "s", required=True, max_length=2)
    with pytest.raises(InvalidInput, match=r"^input\.n must be an integer of at least 1$"):
        integer({"n": 0}, "n", low=1)
    with pytest.raises(InvalidInput, match=r"^input\.n must be an integer of at most 5$"):
        integer({"n": 6}, "n", high=5)
