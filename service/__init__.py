"""content-jobs: long-running content jobs over HTTP, with live progress over SSE."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path


def _version() -> str:
    """The version of pyproject.toml, its one definition: as installed (the distribution's
    metadata), else read from the source tree this package sits in, else unknown."""
    try:
        return metadata.version("content-jobs")
    except metadata.PackageNotFoundError:
        pass
    try:
        with (Path(__file__).resolve().parent.parent / "pyproject.toml").open("rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0+unknown"


#: what the OpenAPI document, `content-jobs --version`, the user agents and the
#: `content_jobs_build_info` metric say
__version__ = _version()
