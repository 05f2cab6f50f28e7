"""Configuration read once from the environment, validated, and frozen.

Each setting is declared once, as a field of `Settings`: its type, environment variable,
parser, default, one-line doc and group (`setting(...)`). `Settings.from_env` reads every
declared variable from that, and README.md's Configuration tables are generated from it
(`python -m service.settings`; tests/docs checks they match), so the code, the variables and
the documentation cannot drift apart.

A missing or invalid setting raises `SettingsError` with one line naming it,
which the CLI prints before exiting, so a bad deploy fails loudly at start-up
rather than on the first request.

Why not pydantic-settings: the settings must stay a frozen dataclass (the code and tests
derive variants with `dataclasses.replace`), and its validation errors are several lines
in its own words, where start-up promises one line naming the variable; a table of
declarations gives both with no new dependency.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar, cast

from service import tracing
from service.domain.flow import RateLimit, parse_rate_limits, parse_weights
from service.domain.limits import DEFAULT_INPUT_MAX_BYTES, MAX_BODY_BYTES

Role = Literal["all", "api", "worker"]
ROLES: tuple[Role, ...] = ("all", "api", "worker")
LogFormat = Literal["json", "console"]
LOG_FORMATS: tuple[LogFormat, ...] = ("json", "console")
StorageBackend = Literal["postgres", "s3"]
STORAGE_BACKENDS: tuple[StorageBackend, ...] = ("postgres", "s3")

Group = Literal[
    "database", "server", "auth", "jobs", "worker", "streams", "callbacks", "storage",
    "observability",
]  # fmt: skip
#: each group's title in README.md, in the README's order
GROUPS: dict[Group, str] = {
    "database": "Database",
    "server": "Server",
    "auth": "Authentication",
    "jobs": "Jobs and quotas",
    "worker": "Workers",
    "streams": "Event streams",
    "callbacks": "Completion callbacks",
    "storage": "Asset storage",
    "observability": "Logs, metrics and tracing",
}

T = TypeVar("T")
S = TypeVar("S", bound=str)


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class Setting:
    """How one field of `Settings` is read from the environment and shown in the README."""

    env: str
    parse: Callable[[str], object]
    doc: str
    group: Group
    #: the README's "default" column
    shown_default: str
    required: bool = False


def setting(
    env: str,
    parse: Callable[[str], T],
    default: T,
    doc: str,
    group: Group,
    *,
    shown: str | None = None,
    secret: bool = False,
) -> T:
    """A field of `Settings` read from `env`; `secret`: left out of the repr (it may be logged)."""
    declared = Setting(env, parse, doc, group, _shown(default) if shown is None else shown)
    metadata = {"setting": declared}
    if isinstance(default, dict):  # a mutable default: each instance gets its own copy
        factory = cast(Callable[[], T], lambda: dict(default))
        return dataclasses.field(default_factory=factory, repr=not secret, metadata=metadata)
    return dataclasses.field(default=default, repr=not secret, metadata=metadata)


def required(env: str, parse: Callable[[str], T], doc: str, group: Group) -> T:
    """A field of `Settings` whose variable must be set (there is no default)."""
    declared = Setting(env, parse, doc, group, "required", required=True)
    return cast(T, dataclasses.field(metadata={"setting": declared}))


def _shown(default: object) -> str:
    """A default as the README shows it: `30` (not 30.0), `false`, none, empty."""
    if default is None or default in ((), {}):
        return "none"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if default == "":
        return "empty"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"


def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} is invalid: {exc}") from None


# The parsers: each takes the variable's stripped, non-empty text and returns its value, or
# raises ValueError saying what is wrong (`_parse` prefixes the variable's name).


def _database_url(raw: str) -> str:
    if not raw.startswith(("postgres://", "postgresql://")):
        raise ValueError("must be a postgresql:// URL")
    return raw


def _http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return raw


def _secret(raw: str) -> str:
    if len(raw.encode()) < 32:
        raise ValueError(
            f"must be at least 32 bytes, it has {len(raw.encode())}: "
            "make one with `openssl rand -hex 32`"
        )
    return raw


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{raw!r} is not an integer") from None
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return parse


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None


def _positive_float(raw: str) -> float:
    value = _float(raw)
    if not value > 0:
        raise ValueError(f"{raw} must be greater than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = _float(raw)
    if value < 0:
        raise ValueError(f"{raw} must not be negative")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise ValueError(f"{raw!r} is not true or false")
    return value in ("true", "1")


def _choice(options: tuple[S, ...], lower: bool = False) -> Callable[[str], S]:
    def parse(raw: str) -> S:
        value = raw.lower() if lower else raw
        for option in options:
            if option == value:
                return option
        raise ValueError(f"{raw!r} is not one of {', '.join(options)}")

    return parse


def _type_timeouts(raw: str) -> dict[str, float]:
    """`sleep=4000,markdown.html=60` -> {"sleep": 4000.0, "markdown.html": 60.0}."""
    result: dict[str, float] = {}
    for item in raw.split(","):
        name, sep, seconds = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item!r} is not TYPE=SECONDS")
        result[name.strip()] = _positive_float(seconds.strip())
    return result


_ORIGIN = re.compile(r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")


def _origins(raw: str) -> tuple[str, ...]:
    """`https://a.example,http://localhost:3000` -> each origin, checked: a typo fails start-up."""
    origins = tuple(item.strip().rstrip("/") for item in raw.split(",") if item.strip())
    for origin in origins:
        if origin != "*" and not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{origin!r} is not an origin like https://app.example.com[:port]")
    return origins


def _host_patterns(raw: str) -> tuple[str, ...]:
    """`hooks.example.com,*.internal.example` -> each checked: a name, or `*.` and a name."""
    patterns = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    for pattern in patterns:
        name = pattern.removeprefix("*.")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\]", name):
            raise ValueError(f"{pattern!r} is not a host name or *.suffix")
    return patterns


def module_names(raw: str) -> tuple[str, ...]:
    """`a.b,c` -> ("a.b", "c"): dotted module names."""
    names = tuple(item.strip() for item in raw.split(",") if item.strip())
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", name):
            raise ValueError(f"{name!r} is not a module name")
    return names


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting, declared once: type, variable, parser, default, README line, group."""

    database_url: str = required(
        "DATABASE_URL", _database_url, "`postgresql://user:password@host:port/db`", "database"
    )
    listen_database_url: str | None = setting(
        "LISTEN_DATABASE_URL", _database_url, None,
        "the listener's session connection (direct, past a transaction pooler)",
        "database", shown="`DATABASE_URL`", secret=True,
    )  # fmt: skip
    db_pool_size: int = setting(
        "DB_POOL_SIZE", _int_between(1, 1000), 10,
        "connections in this replica's asyncpg pool", "database",
    )  # fmt: skip
    db_statement_cache_size: int = setting(
        "DB_STATEMENT_CACHE_SIZE", _int_between(0, 100_000), 100,
        "asyncpg's prepared statements per connection; `0` behind PgBouncer < 1.21",
        "database",
    )  # fmt: skip
    host: str = setting("HOST", str, "0.0.0.0", "interface to listen on", "server")
    port: int = setting("PORT", _int_between(1, 65535), 8080, "port to listen on", "server")
    role: Role = setting(  # noqa: RUF009 (it returns a dataclasses.field)
        "ROLE", _choice(ROLES), "all",
        "`api` (HTTP and SSE), `worker` (runs jobs) or `all` (both)", "server",
    )  # fmt: skip
    shutdown_grace_seconds: float = setting(
        "SHUTDOWN_GRACE_SECONDS", _non_negative_float, 20.0,
        "how long shutdown waits for running jobs before requeueing them", "server",
    )  # fmt: skip
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS", _origins, (),
        "comma-separated origins whose pages may call `/api/` cross-origin, e.g. "
        "`https://app.example.com`",
        "server", shown="none (CORS off)",
    )  # fmt: skip
    auth_jwt_secret: str | None = setting(
        "AUTH_JWT_SECRET", _secret, None,
        "HS256 key that signs and verifies tokens, at least 32 bytes",
        "auth", shown="one of these two", secret=True,
    )  # fmt: skip
    auth_jwks_url: str | None = setting(
        "AUTH_JWKS_URL", _http_url, None,
        "an identity provider's JSON Web Key Set: RS256/ES256 tokens",
        "auth", shown="one of these two",
    )  # fmt: skip
    auth_issuer: str | None = setting(
        "AUTH_ISSUER", str, None, "when set, tokens must carry this `iss`", "auth"
    )
    auth_audience: str | None = setting(
        "AUTH_AUDIENCE", str, None, "when set, tokens must carry this `aud`", "auth"
    )
    job_type_modules: tuple[str, ...] = setting(
        "JOB_TYPE_MODULES", module_names, (),
        "comma-separated modules with more job types (`JOB_TYPES` in each), besides the "
        "entry points",
        "jobs",
    )  # fmt: skip
    job_max_attempts: int = setting(
        "JOB_MAX_ATTEMPTS", _int_between(1, 100), 3,
        "attempts of a job whose type and submit name none", "jobs",
    )  # fmt: skip
    job_timeout_seconds: float = setting(
        "JOB_TIMEOUT_SECONDS", _positive_float, 900.0,
        "a run's time limit, for job types without their own", "jobs",
    )  # fmt: skip
    job_type_timeouts: Mapping[str, float] = setting(
        "JOB_TYPE_TIMEOUTS", _type_timeouts, {},
        "per-type limits overriding both, e.g. `sleep=4000,markdown.html=60`", "jobs",
    )  # fmt: skip
    job_input_max_bytes: int = setting(
        "JOB_INPUT_MAX_BYTES", _int_between(2, MAX_BODY_BYTES), DEFAULT_INPUT_MAX_BYTES,
        "a job's `input` as encoded JSON, at most (`413` beyond)", "jobs",
    )  # fmt: skip
    job_output_max_bytes: int = setting(
        "JOB_OUTPUT_MAX_BYTES", _int_between(0, 2**30), 1024 * 1024,
        "a job's streamed output (UTF-8), at most: the rest is dropped (`outputTruncated`)",
        "jobs",
    )  # fmt: skip
    company_max_queued: int = setting(
        "COMPANY_MAX_QUEUED", _int_between(1, 10**9), 10_000,
        "a company's waiting jobs, at most (`429` at submit beyond)", "jobs",
    )  # fmt: skip
    company_max_running: int | None = setting(
        "COMPANY_MAX_RUNNING", _int_between(1, 10**6), None,
        "a company's running jobs across all workers, at most", "jobs",
    )  # fmt: skip
    job_type_rate_limits: Mapping[str, RateLimit] = setting(
        "JOB_TYPE_RATE_LIMITS", parse_rate_limits, {},
        "starts per window across all workers, e.g. `echo=5/1s,render=100/60s`; "
        "`TYPE=N/Ts/company`: per company; overrides a type's own `rate_limit`", "jobs",
    )  # fmt: skip
    company_weights: Mapping[str, float] = setting(
        "COMPANY_WEIGHTS", parse_weights, {},
        "shares of the running jobs under contention, e.g. `acme=3,beta=1` (others 1)", "jobs",
    )  # fmt: skip
    runner_concurrency: int = setting(
        # 100, not 16: content handlers wait on providers (CPU-bound types are capped by
        # CPU_WORKERS, provider calls by rate limits), and a claim of 16 made one worker's
        # no-op rate half of pgqueuer's default (BENCHMARKS.md, "Execution")
        "RUNNER_CONCURRENCY", _int_between(1, 10000), 100,
        "handlers one worker runs at once (runs waiting only for their last write do not "
        "count; CPU-bound ones also wait for one of `CPU_WORKERS`)",
        "worker",
    )  # fmt: skip
    cpu_workers: int = setting(
        "CPU_WORKERS", _int_between(1, 256), 2,
        "worker processes per replica for CPU-bound job types", "worker",
    )  # fmt: skip
    job_lease_seconds: float = setting(
        "JOB_LEASE_SECONDS", _positive_float, 30.0,
        "a running job's lease; a worker that stops renewing it loses the job", "worker",
    )  # fmt: skip
    sse_heartbeat_seconds: float = setting(
        "SSE_HEARTBEAT_SECONDS", _positive_float, 15.0,
        "a quiet event stream gets a `: ping` comment before it has been silent this long "
        "(a stream with traffic gets none)", "streams",
    )  # fmt: skip
    sse_max_streams_per_caller: int = setting(
        "SSE_MAX_STREAMS_PER_CALLER", _int_between(1, 1_000_000), 100,
        "open event streams per token `sub`, per replica (`429` beyond)", "streams",
    )  # fmt: skip
    webhook_allowed_hosts: tuple[str, ...] = setting(
        "WEBHOOK_ALLOWED_HOSTS", _host_patterns, (),
        "hosts a `callbackUrl` may name: names, IP literals (`[::1]`) or `*.suffix`; special "
        "addresses only for hosts listed by exact name",
        "callbacks", shown="none (callbacks off)",
    )  # fmt: skip
    webhook_secret: str | None = setting(
        "WEBHOOK_SECRET", _secret, None,
        "at least 32 bytes (`openssl rand -hex 32`); the key that encrypts each company's own "
        "signing secret (AES-GCM, key derived by HKDF); it signs nothing itself. Changing it "
        "makes the stored secrets unreadable: deliveries fail until each company's editors "
        "rotate theirs",
        "callbacks", shown="required with the above", secret=True,
    )  # fmt: skip
    storage_backend: StorageBackend = setting(  # noqa: RUF009 (it returns a dataclasses.field)
        "STORAGE_BACKEND", _choice(STORAGE_BACKENDS), "postgres",
        "where result assets live: `postgres` (chunked, in this database) or `s3`", "storage",
    )  # fmt: skip
    s3_bucket: str | None = setting(
        "S3_BUCKET", str, None, "the bucket, required with `s3`", "storage"
    )
    s3_endpoint_url: str | None = setting(
        "S3_ENDPOINT_URL", _http_url, None,
        "an S3-compatible endpoint (MinIO, Ceph, R2, …)", "storage", shown="AWS",
    )  # fmt: skip
    s3_prefix: str = setting(
        "S3_PREFIX", str, "", "prepended to object keys, to share a bucket", "storage"
    )
    s3_region: str | None = setting(
        "S3_REGION", str, None,
        "the bucket's region; credentials come from the usual AWS variables and files",
        "storage", shown="AWS default",
    )  # fmt: skip
    log_format: LogFormat = setting(  # noqa: RUF009 (it returns a dataclasses.field)
        "LOG_FORMAT", _choice(LOG_FORMATS), "json",
        "`json` (one object per line) or `console`", "observability",
    )  # fmt: skip
    log_level: str = setting(
        "LOG_LEVEL", _choice(("debug", "info", "warning", "error"), lower=True), "info",
        "`debug`, `info`, `warning` or `error`", "observability",
    )  # fmt: skip
    metrics_port: int | None = setting(
        "METRICS_PORT", _int_between(1, 65535), None,
        "serve `/metrics` and `/readyz` on this port only (not on `PORT`)", "observability",
    )  # fmt: skip
    metrics_company_labels: bool = setting(
        "METRICS_COMPANY_LABELS", _bool, False,
        "`true`: queue gauges by company (the 20 busiest by id, the rest as `other`); "
        "`false`: one total for all companies, no company id in `/metrics`",
        "observability",
    )  # fmt: skip
    otel_exporter_otlp_endpoint: str | None = setting(
        "OTEL_EXPORTER_OTLP_ENDPOINT", _http_url, None,
        "set: OpenTelemetry traces go there over OTLP/HTTP (the `tracing` extra; the SDK's "
        "other `OTEL_*` variables apply, see Tracing); unset: tracing is off, at no cost",
        "observability",
    )  # fmt: skip
    #: not read from the environment (tests shorten them): how often readers re-check
    #: listened jobs for events whose NOTIFY was lost, and an idle worker looks for queued
    #: jobs without being woken
    sweep_interval_seconds: float = 1.0
    poll_interval_seconds: float = 1.0

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.repr and f.name != "database_url"
        )
        return f"Settings(database_url={_hide_password(self.database_url)!r}, {fields})"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, auth: bool = True, **overrides: object
    ) -> Settings:
        """Build settings from `env` (default `os.environ`); `overrides` win over it.

        `auth=False`: for commands that neither serve nor check tokens (`prune`), which then
        do not ask for AUTH_JWT_SECRET or AUTH_JWKS_URL."""
        values = _read(os.environ if env is None else env)
        values.update(overrides)
        _check_together(values, auth=auth)
        return cls(**{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]

    @property
    def listen_url(self) -> str:
        """Where the listener connects: LISTEN_DATABASE_URL, else DATABASE_URL."""
        return self.listen_database_url or self.database_url

    def timeout_for(self, job_type: str, type_default: float | None) -> float:
        """A job type's timeout: `JOB_TYPE_TIMEOUTS`, else the type's own, else the global one."""
        if job_type in self.job_type_timeouts:
            return self.job_type_timeouts[job_type]
        return type_default if type_default is not None else self.job_timeout_seconds


#: field name -> its declaration, in declaration order (the README's order within a group)
SETTINGS: dict[str, Setting] = {
    f.name: f.metadata["setting"] for f in dataclasses.fields(Settings) if "setting" in f.metadata
}


def _read(env: Mapping[str, str]) -> dict[str, object]:
    """Each declared variable that is set (blank counts as unset), parsed; unset: left out."""
    values: dict[str, object] = {}
    for name, declared in SETTINGS.items():
        raw = env.get(declared.env, "").strip()
        if raw:
            values[name] = _parse(declared.env, raw, declared.parse)
        elif declared.required:
            raise SettingsError(f"{declared.env} is required but not set")
    return values


def _check_together(values: Mapping[str, object], *, auth: bool) -> None:
    """The rules that span settings: one needs another, or an extra installed."""
    if values.get("webhook_allowed_hosts") and not values.get("webhook_secret"):
        raise SettingsError("WEBHOOK_SECRET is required when WEBHOOK_ALLOWED_HOSTS is set")
    if auth and not values.get("auth_jwt_secret") and not values.get("auth_jwks_url"):
        raise SettingsError("AUTH_JWT_SECRET or AUTH_JWKS_URL is required but neither is set")
    s3 = values.get("storage_backend") == "s3"
    if s3 and not values.get("s3_bucket"):
        raise SettingsError("S3_BUCKET is required when STORAGE_BACKEND=s3")
    if s3 and importlib.util.find_spec("aiobotocore") is None:
        raise SettingsError("STORAGE_BACKEND=s3 needs the s3 extra: pip install 'content-jobs[s3]'")
    if values.get("otel_exporter_otlp_endpoint") and not tracing.is_installed():
        raise SettingsError(
            "OTEL_EXPORTER_OTLP_ENDPOINT needs the tracing extra: "
            "pip install 'content-jobs[tracing]'"
        )


def markdown() -> str:
    """README.md's Configuration tables: one per group, a row per variable, from `SETTINGS`."""
    tables = []
    for group, title in GROUPS.items():
        lines = [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|"]
        lines += [
            f"| `{d.env}` | {d.shown_default} | {d.doc} |"
            for d in SETTINGS.values()
            if d.group == group
        ]
        tables.append("\n".join(lines) + "\n")
    return "\n".join(tables)


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def role_runs_api(role: Role) -> bool:
    return role in ("all", "api")


def role_runs_worker(role: Role) -> bool:
    return role in ("all", "worker")


if __name__ == "__main__":
    print(markdown(), end="")
