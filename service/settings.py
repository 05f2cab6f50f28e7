"""Configuration read once from the environment, validated, and frozen.

A missing or invalid setting raises `SettingsError` with one line naming it,
which the CLI prints before exiting, so a bad deploy fails loudly at start-up
rather than on the first request.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar

from service.domain.limits import DEFAULT_INPUT_MAX_BYTES, MAX_BODY_BYTES

Role = Literal["all", "api", "worker"]
ROLES: tuple[Role, ...] = ("all", "api", "worker")

T = TypeVar("T")


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str
    #: HS256 secret; optional when AUTH_JWKS_URL is set (at least one of them is required)
    auth_jwt_secret: str | None = dataclasses.field(default=None, repr=False)
    #: RS256/ES256 public keys of an identity provider (JSON Web Key Set)
    auth_jwks_url: str | None = None
    #: when set, tokens must carry this `iss` / `aud`
    auth_issuer: str | None = None
    auth_audience: str | None = None
    host: str = "0.0.0.0"
    port: int = 8080
    #: a second port for /metrics and /readyz only (then not on `port`); None: both on `port`
    metrics_port: int | None = None
    #: queue gauges by company (the busiest by name); off: one total for all companies, so
    #: a scrape names no customer and the series do not grow with them
    metrics_company_labels: bool = False
    role: Role = "all"
    log_format: Literal["json", "console"] = "json"
    log_level: str = "info"
    db_pool_size: int = 10
    #: the listener's connection, which needs a session of its own (LISTEN): set it to the
    #: database directly when DATABASE_URL goes through a transaction-pooling PgBouncer
    listen_database_url: str | None = dataclasses.field(default=None, repr=False)
    #: asyncpg's prepared-statement cache per connection; 0 behind PgBouncer < 1.21 in
    #: transaction mode (its server connections change between statements)
    db_statement_cache_size: int = 100
    runner_concurrency: int = 16
    job_lease_seconds: float = 30.0
    job_max_attempts: int = 3
    job_timeout_seconds: float = 900.0
    job_type_timeouts: Mapping[str, float] = dataclasses.field(default_factory=dict)
    sse_heartbeat_seconds: float = 15.0
    #: open event streams per token `sub`, per replica (429 beyond)
    sse_max_streams_per_caller: int = 100
    shutdown_grace_seconds: float = 20.0
    #: how often readers re-check listened jobs for events whose NOTIFY was lost
    sweep_interval_seconds: float = 1.0
    #: how often an idle worker looks for queued jobs without being woken
    poll_interval_seconds: float = 1.0
    #: where asset bytes live: this database (default) or an S3-compatible store
    storage_backend: Literal["postgres", "s3"] = "postgres"
    s3_bucket: str | None = None
    #: for S3-compatible stores other than AWS (MinIO, Ceph, R2...)
    s3_endpoint_url: str | None = None
    #: prepended to every object key, so deployments can share a bucket
    s3_prefix: str = ""
    s3_region: str | None = None
    #: worker processes for CPU-bound job types, per replica
    cpu_workers: int = 2
    #: modules with more job types (`JOB_TYPES` in each), besides the entry points
    job_type_modules: tuple[str, ...] = ()
    #: a company's running jobs across all workers, at most; None: no cap
    company_max_running: int | None = None
    #: a company's waiting jobs, at most (429 at submit beyond)
    company_max_queued: int = 10_000
    #: at least 32 bytes, required when WEBHOOK_ALLOWED_HOSTS is set: the key that encrypts each
    #: company's own callback signing secret (`service.webhooks.secrets`); it signs nothing itself
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    #: hosts a `callbackUrl` may name: exact names, IP literals (`[::1]`) or `*.suffix`; empty: off
    webhook_allowed_hosts: tuple[str, ...] = ()
    #: a job's `input` as encoded JSON, at most (413 beyond)
    job_input_max_bytes: int = DEFAULT_INPUT_MAX_BYTES
    #: browser origins allowed to call the API cross-origin; none: CORS is off
    cors_origins: tuple[str, ...] = ()

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
        env = os.environ if env is None else env
        values: dict[str, object] = {
            "database_url": _required(env, "DATABASE_URL", _database_url),
            "auth_jwt_secret": _optional(env, "AUTH_JWT_SECRET", _secret),
            "auth_jwks_url": _optional(env, "AUTH_JWKS_URL", _http_url),
            "auth_issuer": _optional(env, "AUTH_ISSUER", str),
            "auth_audience": _optional(env, "AUTH_AUDIENCE", str),
            "host": _optional(env, "HOST", str),
            "port": _optional(env, "PORT", _int_between(1, 65535)),
            "metrics_port": _optional(env, "METRICS_PORT", _int_between(1, 65535)),
            "metrics_company_labels": _optional(env, "METRICS_COMPANY_LABELS", _bool),
            "role": _optional(env, "ROLE", _choice(ROLES)),
            "log_format": _optional(env, "LOG_FORMAT", _choice(("json", "console"))),
            "log_level": _optional(
                env, "LOG_LEVEL", _choice(("debug", "info", "warning", "error"), lower=True)
            ),
            "db_pool_size": _optional(env, "DB_POOL_SIZE", _int_between(1, 1000)),
            "listen_database_url": _optional(env, "LISTEN_DATABASE_URL", _database_url),
            "db_statement_cache_size": _optional(
                env, "DB_STATEMENT_CACHE_SIZE", _int_between(0, 100_000)
            ),
            "runner_concurrency": _optional(env, "RUNNER_CONCURRENCY", _int_between(1, 10000)),
            "job_lease_seconds": _optional(env, "JOB_LEASE_SECONDS", _positive_float),
            "job_max_attempts": _optional(env, "JOB_MAX_ATTEMPTS", _int_between(1, 100)),
            "job_timeout_seconds": _optional(env, "JOB_TIMEOUT_SECONDS", _positive_float),
            "job_type_timeouts": _optional(env, "JOB_TYPE_TIMEOUTS", _type_timeouts),
            "sse_heartbeat_seconds": _optional(env, "SSE_HEARTBEAT_SECONDS", _positive_float),
            "sse_max_streams_per_caller": _optional(
                env, "SSE_MAX_STREAMS_PER_CALLER", _int_between(1, 1_000_000)
            ),
            "shutdown_grace_seconds": _optional(env, "SHUTDOWN_GRACE_SECONDS", _non_negative_float),
            "storage_backend": _optional(env, "STORAGE_BACKEND", _choice(("postgres", "s3"))),
            "s3_bucket": _optional(env, "S3_BUCKET", str),
            "s3_endpoint_url": _optional(env, "S3_ENDPOINT_URL", _http_url),
            "s3_prefix": _optional(env, "S3_PREFIX", str),
            "s3_region": _optional(env, "S3_REGION", str),
            "cors_origins": _optional(env, "CORS_ORIGINS", _origins),
            "cpu_workers": _optional(env, "CPU_WORKERS", _int_between(1, 256)),
            "webhook_secret": _optional(env, "WEBHOOK_SECRET", _secret),
            "webhook_allowed_hosts": _optional(env, "WEBHOOK_ALLOWED_HOSTS", _host_patterns),
            "job_type_modules": _optional(env, "JOB_TYPE_MODULES", module_names),
            "company_max_running": _optional(env, "COMPANY_MAX_RUNNING", _int_between(1, 10**6)),
            "company_max_queued": _optional(env, "COMPANY_MAX_QUEUED", _int_between(1, 10**9)),
            "job_input_max_bytes": _optional(
                env, "JOB_INPUT_MAX_BYTES", _int_between(2, MAX_BODY_BYTES)
            ),
        }
        values.update(overrides)
        if values["webhook_allowed_hosts"] and not values["webhook_secret"]:
            raise SettingsError("WEBHOOK_SECRET is required when WEBHOOK_ALLOWED_HOSTS is set")
        if auth and not values["auth_jwt_secret"] and not values["auth_jwks_url"]:
            raise SettingsError("AUTH_JWT_SECRET or AUTH_JWKS_URL is required but neither is set")
        if values["storage_backend"] == "s3" and not values["s3_bucket"]:
            raise SettingsError("S3_BUCKET is required when STORAGE_BACKEND=s3")
        if values["storage_backend"] == "s3" and importlib.util.find_spec("aiobotocore") is None:
            raise SettingsError(
                "STORAGE_BACKEND=s3 needs the s3 extra: pip install 'content-jobs[s3]'"
            )
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


def _hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def _required(env: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        raise SettingsError(f"{name} is required but not set")
    return _parse(name, raw, parse)


def _optional(env: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    raw = env.get(name, "").strip()
    return _parse(name, raw, parse) if raw else None


def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} is invalid: {exc}") from None


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


def _choice(options: tuple[str, ...], lower: bool = False) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower() if lower else raw
        if value not in options:
            raise ValueError(f"{raw!r} is not one of {', '.join(options)}")
        return value

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


def role_runs_api(role: Role) -> bool:
    return role in ("all", "api")


def role_runs_worker(role: Role) -> bool:
    return role in ("all", "worker")
