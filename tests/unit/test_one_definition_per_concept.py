"""Each concept is defined once (issue 17, item 2): the statuses in `service/domain/jobs.py`,
the client-facing limits in `service/domain/limits.py`, the version in pyproject.toml. Whatever
else shows them (the Python client, the CLI, the OpenAPI document, the web page, exit codes,
error messages) reads them from there, and these tests keep copies from coming back.

The SQL's copies (CHECK constraints) are held to the same definitions against a real database
by `tests/integration/test_database_constraints_match_the_domain.py`.
"""

from __future__ import annotations

import importlib.metadata
import io
import re
import tokenize
from pathlib import Path

import pytest

import service
from service import cli
from service.api.pages import render_index
from service.client import TERMINAL as CLIENT_TERMINAL
from service.client import USER_AGENT
from service.client import Status as ClientStatus
from service.client.console import EXIT_CODES, EXIT_ERROR, exit_code
from service.domain import limits
from service.domain.jobs import RETRYABLE, TERMINAL, Status
from service.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
SERVICE = ROOT / "service"
STATIC = SERVICE / "api" / "static"
STATUS_VALUES = {status.value for status in Status}


def test_the_client_and_the_cli_use_the_one_status_list() -> None:
    assert ClientStatus is Status
    assert CLIENT_TERMINAL is TERMINAL
    assert tuple(status.value for status in Status) == cli.STATUSES


def test_each_terminal_status_has_its_own_exit_code() -> None:
    assert set(EXIT_CODES) == TERMINAL
    codes = list(EXIT_CODES.values())
    assert len(set(codes)) == len(codes) and EXIT_ERROR not in codes
    assert [exit_code(status) for status in (Status.QUEUED, Status.RUNNING, None)] == [
        EXIT_ERROR
    ] * 3
    for status, code in EXIT_CODES.items():
        assert f"{code} {status}" in cli.EXIT_STATUS


def test_the_page_reads_the_statuses_from_the_server() -> None:
    """app.js and style.css may name only real statuses, and app.js names none itself: it
    reads the lists the server fills into the page."""
    page = render_index(("sleep",))
    attributes = dict(re.findall(r'data-(terminal|retryable|queued)="([^"]*)"', page))
    assert set(attributes["terminal"].split()) == TERMINAL
    assert set(attributes["retryable"].split()) == RETRYABLE
    assert attributes["queued"] == Status.QUEUED
    script = (STATIC / "app.js").read_text(encoding="utf-8")
    spelled = [value for value in STATUS_VALUES if re.search(rf"[\"'`]{value}[\"'`]", script)]
    assert spelled == [], "app.js spells statuses itself: read them from <html data-*>"
    styled = re.findall(r'data-status="([^"]*)"', (STATIC / "style.css").read_text())
    assert styled and set(styled) <= STATUS_VALUES


def test_the_sql_queries_name_only_real_statuses() -> None:
    sql = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "sql").glob("*.sql")))
    named: set[str] = set()
    for match in re.finditer(r"status\s*(?:=|<>|!=)\s*'(\w+)'", sql):
        named.add(match.group(1))
    for match in re.finditer(r"status\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", sql, re.IGNORECASE):
        named.update(re.findall(r"'(\w+)'", match.group(1)))
    for match in re.finditer(r"SET\s+status\s*=\s*(?:CASE(.*?)END|'(\w+)')", sql, re.S):
        named.update(re.findall(r"'(\w+)'", match.group(0)))
    assert named | {Status.DONE.value} == STATUS_VALUES  # `done` is set from a parameter


def test_the_page_gets_the_company_id_pattern_from_its_definition() -> None:
    page = render_index(("sleep",))
    pattern = re.search(r'id="company"[^>]*pattern="([^"]*)"', page, re.S)
    assert pattern is not None
    assert pattern.group(1).replace("\\-", "-") == limits.COMPANY_ID_PATTERN


def test_the_version_is_the_packages_and_is_written_nowhere_in_service() -> None:
    version = importlib.metadata.version("content-jobs")
    assert service.__version__ == version
    assert USER_AGENT.endswith("/" + version)
    from service.api.openapi import VERSION

    assert version == VERSION
    scrape = Metrics().registry.get_sample_value("content_jobs_build_info", {"version": version})
    assert scrape == 1
    copies = [str(p) for p in _sources() if version in p.read_text(encoding="utf-8")]
    assert copies == []


def test_cli_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"content-jobs {service.__version__}"


#: the limits whose numbers must not be written outside limits.py (and the SQL)
POLICED = {
    "MAX_PAGE_SIZE": limits.MAX_PAGE_SIZE,
    "DEFAULT_PAGE_SIZE": limits.DEFAULT_PAGE_SIZE,
    "MAX_BATCH_ITEMS": limits.MAX_BATCH_ITEMS,
    "MAX_IDEMPOTENCY_KEY": limits.MAX_IDEMPOTENCY_KEY,
    "MAX_SOURCE_TASK_ID": limits.MAX_SOURCE_TASK_ID,
    "MAX_CALLBACK_URL": limits.MAX_CALLBACK_URL,
    "MAX_REQUEST_ID": limits.MAX_REQUEST_ID,
    "MAX_ATTEMPTS_RANGE": limits.MAX_ATTEMPTS_RANGE[1],
    "PRIORITY_RANGE": limits.PRIORITY_RANGE[0],
}
#: the same numbers meaning something else: (file, the line's text, why)
ALLOWED = [
    ("service/api/openapi.py", "`200` when the database answers", "an HTTP status"),
    ("service/api/stream.py", "RETRY_MS = (2000, 5000)", "milliseconds"),
    ("service/assets/storage/s3.py", "DELETE_BATCH = 1000", "S3's own limit"),
    ("service/assets/store.py", "MAX_FILENAME = 255", "a file name we write"),
    ("service/jobtypes/builtin/sleep.py", "le=1000", "the demo type's own input"),
    ("service/jobtypes/builtin/typewriter.py", "le=1000", "the demo type's own input"),
    ("service/settings.py", '"DB_POOL_SIZE", _int_between(1, 1000)', "operator setting"),
    ("service/domain/schedules.py", "_MAX_CANDIDATES = 1000", "cron candidates tried"),
]
#: a regular expression's `{1,N}` of a length: the company id and request id patterns
QUANTIFIER = re.compile(r"\{1,\d\d+\}")


def test_no_limit_is_written_outside_limits_py() -> None:
    """A grep with judgment: numbers in code and strings, not in comments or docstrings
    (prose); `200` as an HTTP status and `1000` as milliseconds are not the limits."""
    found = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        for line_no, line, what in _offences(path):
            if not any(name == file and text in line for file, text, _ in ALLOWED):
                found.append(f"{name}:{line_no}: {what}: {line.strip()}")
    assert found == [], "use service/domain/limits.py:\n" + "\n".join(found)


def test_the_grep_finds_a_limit_written_again(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'def f(key: str) -> None:\n    """Up to 200 (prose)."""\n'
        "    if len(key) > 200:  # 200\n"
        '        raise ValueError("at most 1,000 jobs")\n'
        "    ok(status=200, ms=seconds * 1000, bucket=0.25)\n"
        'PATTERN = r"[a-z]{1,64}"\nPRIORITY = -100\nHELP = "1..25 attempts"\n'
    )
    assert [(n, what) for n, _, what in _offences(sample)] == [
        (3, "MAX_PAGE_SIZE"),  # 200 is three limits
        (3, "MAX_IDEMPOTENCY_KEY"),
        (3, "MAX_REQUEST_ID"),
        (4, "MAX_BATCH_ITEMS"),
        (6, "a {1,N} pattern"),
        (7, "PRIORITY_RANGE"),
        (8, "MAX_ATTEMPTS_RANGE"),
    ]


def _sources() -> list[Path]:
    """service/'s code and page, but not limits.py (the definitions), the SQL, or the page's
    build of the TypeScript client (clients/typescript's code, generated: its numbers are
    the client's own timings)."""
    return [
        path
        for path in sorted(SERVICE.rglob("*"))
        if path.suffix in (".py", ".js", ".html")
        and path.name != "limits.py"
        and "sql" not in path.relative_to(SERVICE).parts
        and not path.is_relative_to(STATIC / "client")
    ]


def _number(value: int) -> re.Pattern[str]:
    forms = sorted({str(value), f"{value:,}", f"{value:_}"}, key=len, reverse=True)
    either = "|".join(map(re.escape, forms))
    # not part of a longer number or a word (`0.25` is not 25, `1..25` and `-100` are)
    return re.compile(r"(?<![\w,])(?<!\d\.)(?:" + either + r")(?![\w]|[.,]\d)")


NUMBERS = {name: _number(value) for name, value in POLICED.items()}


def _offences(path: Path) -> list[tuple[int, str, str]]:
    """(line, its text, which limit) for each number of `POLICED` written in `path`."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":  # the page: its comments are prose
        text = re.sub(r"(^|\s)//[^\n]*|<!--.*?-->", r"\1", text, flags=re.S)
        return [
            (n, line, what) for n, line in enumerate(text.splitlines(), 1) for what in _in(line)
        ]
    found = []
    previous = None
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.NUMBER:
            found += [(token.start[0], token.line, what) for what in _number_token(token, previous)]
        elif (
            token.type == tokenize.STRING
            and not _is_docstring(previous)
            and token.string.strip("\"'") != "200"  # an OpenAPI response's status
        ):
            found += [(token.start[0], token.line, what) for what in _in(token.string)]
        if token.type not in (tokenize.COMMENT, tokenize.NL):
            previous = token
    return found


def _number_token(token: tokenize.TokenInfo, previous: tokenize.TokenInfo | None) -> list[str]:
    try:
        value = int(token.string.replace("_", ""), 0)
    except ValueError:
        return []
    if previous is not None and previous.string == "-":
        value = -value
    if value == 200 and "status" in token.line.lower():  # an HTTP status
        return []
    if previous is not None and previous.string in ("*", "/"):  # a unit conversion
        return []
    return [name for name, limit in POLICED.items() if value == limit]


def _in(text: str) -> list[str]:
    found = [name for name, pattern in NUMBERS.items() if pattern.search(text)]
    return found + (["a {1,N} pattern"] if QUANTIFIER.search(text) else [])


def _is_docstring(previous: tokenize.TokenInfo | None) -> bool:
    """A string that starts a statement: prose, not a value."""
    return previous is None or previous.type in (
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENCODING,
    )
