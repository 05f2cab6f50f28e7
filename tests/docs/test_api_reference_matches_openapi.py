"""docs/api.md is the API reference people read: every operation of the live OpenAPI
document must be in its routes table, and nothing there may name a route that is gone."""

from __future__ import annotations

import re
from pathlib import Path

from service import jobtypes
from service.api.openapi import document

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def operations() -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in document(jobtypes.load())["paths"].items()
        for method in item
        if method != "parameters"
    }


def test_every_operation_is_in_the_reference() -> None:
    documented = set(re.findall(r"^\| `([A-Z]+ [^`]+)` \|", API_MD.read_text(), re.M))
    assert operations() - documented == set(), "missing from docs/api.md"
    assert documented - operations() == set(), "in docs/api.md but not served"
