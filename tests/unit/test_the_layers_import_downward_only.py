"""The layout shows the design (docs/architecture.md): the HTTP face never imports the
worker, the domain has no I/O and no HTTP, the database and event layers know nothing of
the HTTP face or the worker, and every package the architecture page names exists."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"

#: package -> module prefixes it must never import (at import time or lazily)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "service.api": ("service.worker",),
    "service.domain": (
        "service.api",
        "service.db",
        "service.events",
        "service.worker",
        "service.webhooks",
        "service.assets",
        "aiohttp",
        "asyncpg",
    ),
    "service.db": ("service.api", "service.worker"),
    "service.events": ("service.api", "service.worker"),
    "service.webhooks": ("service.api", "service.worker"),
    "service.assets": ("service.api", "service.worker"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, absolute (relative imports are not used here)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    directory = ROOT / Path(*package.split("."))
    bad = []
    for path in sorted(directory.rglob("*.py")):
        for imported in sorted(_imports(path)):
            if any(imported == f or imported.startswith(f + ".") for f in forbidden):
                bad.append(f"{_module_name(path)} imports {imported}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    assert _violations(package, FORBIDDEN[package]) == []


def test_the_rule_sees_a_planted_import(tmp_path: Path) -> None:
    """The check itself: an import of the worker in an API module is found."""
    planted = tmp_path / "planted.py"
    planted.write_text("from service.worker.runner import Runner\nimport aiohttp.web\n")
    assert "service.worker.runner.Runner" in _imports(planted)
    assert "aiohttp.web" in _imports(planted)


def test_an_api_replica_never_loads_the_worker() -> None:
    """Building the app of an `api` replica imports no module of `service.worker`."""
    code = (
        "import sys\n"
        "from service.app import create_app\n"
        "from service.settings import Settings\n"
        "settings = Settings.from_env({'DATABASE_URL': 'postgresql://x/y',"
        " 'AUTH_JWT_SECRET': 's' * 32}, role='api')\n"
        "create_app(settings)\n"
        "print(sorted(m for m in sys.modules if m.startswith('service.worker')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_every_package_the_architecture_page_names_exists() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(service/[a-z_/]+?)/?`", page))
    assert named, "the page names no package"
    missing = [name for name in sorted(named) if not (ROOT / name).exists()]
    assert missing == []
    packages = {p.name for p in SERVICE.iterdir() if (p / "__init__.py").exists()}
    unnamed = [p for p in sorted(packages) if f"service/{p}/" not in page]
    assert unnamed == []
