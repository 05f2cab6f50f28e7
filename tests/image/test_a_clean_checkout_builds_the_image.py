"""`docker build .` of a fresh clone needs nothing built first: every file the Dockerfile
copies is in the repository and let into the build context by .dockerignore (no `dist/`
wheel from `make wheel`). Fast and static; `make image-test` builds the image for real."""

from __future__ import annotations

import fnmatch
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def copied_sources() -> list[str]:
    """The sources of the Dockerfile's `COPY` lines from the build context (not --from)."""
    sources = []
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0] != "COPY" or any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def admitted(path: str) -> bool:
    """.dockerignore's verdict: the last pattern matching the path or one of its parents."""
    verdict = True
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(pattern.lstrip("!"))
        if any(re.fullmatch(regex, prefix) for prefix in prefixes):
            verdict = negated
    return verdict


def _regex(glob: str) -> str:
    """Docker's patterns: `*` within one path segment, `**/` any leading directories."""
    out = re.escape(glob).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
    return out.replace(r"\?", "[^/]")


def test_every_copied_file_is_in_a_clean_checkout_and_in_the_build_context() -> None:
    files = tracked_files()
    sources = copied_sources()
    assert sources
    for source in sources:
        source = source.rstrip("/")
        matching = [f for f in files if fnmatch.fnmatch(f, source) or f.startswith(f"{source}/")]
        assert matching, f"COPY {source}: not in a clean checkout (built by a make target?)"
        assert all(admitted(f) for f in matching), f"COPY {source}: .dockerignore keeps it out"


def test_image_test_builds_without_a_wheel_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^image-test:(.*)$", makefile, re.M)
    assert target is not None
    assert "wheel" not in target.group(1)
