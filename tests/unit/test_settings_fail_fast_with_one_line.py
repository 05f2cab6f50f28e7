"""Settings: read once from the environment; a bad value stops start-up with one clear line."""

from __future__ import annotations

import dataclasses

import pytest

from service.cli import main
from service.settings import GROUPS, SETTINGS, Settings, SettingsError

SECRET = "s" * 32
URL = "postgresql://app:hunter2-password@db.internal:5432/jobs"
BASE = {"DATABASE_URL": URL, "AUTH_JWT_SECRET": SECRET}


def error_for(**env: str) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, **env})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    """API configuration: HOST 0.0.0.0, PORT 8080, ROLE all, LOG_FORMAT json, LOG_LEVEL
    info."""
    settings = Settings.from_env(BASE)
    assert settings.database_url == URL
    assert settings.auth_jwt_secret == SECRET
    assert (settings.host, settings.port, settings.role) == ("0.0.0.0", 8080, "all")
    assert (settings.log_format, settings.log_level) == ("json", "info")
    assert settings.sse_heartbeat_seconds == 15.0


def test_every_variable_is_read() -> None:
    """API configuration: each listed variable sets its setting."""
    settings = Settings.from_env(
        {
            **BASE,
            "HOST": "127.0.0.1",
            "PORT": "9000",
            "ROLE": "worker",
            "LOG_FORMAT": "console",
            "LOG_LEVEL": "DEBUG",
            "DB_POOL_SIZE": "7",
            "RUNNER_CONCURRENCY": "3",
            "JOB_LEASE_SECONDS": "12.5",
            "JOB_MAX_ATTEMPTS": "5",
            "JOB_TIMEOUT_SECONDS": "60",
            "JOB_TYPE_TIMEOUTS": "sleep=4000, markdown.html=60",
            "SSE_HEARTBEAT_SECONDS": "2",
            "SHUTDOWN_GRACE_SECONDS": "0",
        }
    )
    assert settings.host == "127.0.0.1"
    assert settings.port == 9000
    assert settings.role == "worker"
    assert settings.log_format == "console"
    assert settings.log_level == "debug"
    assert settings.db_pool_size == 7
    assert settings.runner_concurrency == 3
    assert settings.job_lease_seconds == 12.5
    assert settings.job_max_attempts == 5
    assert settings.job_timeout_seconds == 60.0
    assert settings.job_type_timeouts == {"sleep": 4000.0, "markdown.html": 60.0}
    assert settings.sse_heartbeat_seconds == 2.0
    assert settings.shutdown_grace_seconds == 0.0


def test_blank_optional_values_mean_the_default() -> None:
    """API configuration: an unset (or empty) optional variable takes its default."""
    assert Settings.from_env({**BASE, "PORT": "", "ROLE": "  "}) == Settings.from_env(BASE)


def test_overrides_win_over_the_environment() -> None:
    """CLI flags (`--port`, `--role`) override the environment."""
    settings = Settings.from_env({**BASE, "PORT": "9000"}, port=9100, role="api")
    assert (settings.port, settings.role) == (9100, "api")


@pytest.mark.parametrize("name", ["DATABASE_URL", "AUTH_JWT_SECRET"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_required_setting_names_it(name: str, value: str | None) -> None:
    """API configuration: a missing setting stops start-up with one line naming it."""
    env = dict(BASE)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    if name == "AUTH_JWT_SECRET":
        assert (
            str(caught.value) == "AUTH_JWT_SECRET or AUTH_JWKS_URL is required but neither is set"
        )
    else:
        assert str(caught.value) == f"{name} is required but not set"


def test_jwks_alone_is_enough() -> None:
    """API configuration: `AUTH_JWKS_URL` without an HS256 secret (a mesh's provider)."""
    env = {k: v for k, v in BASE.items() if k != "AUTH_JWT_SECRET"}
    settings = Settings.from_env({**env, "AUTH_JWKS_URL": "http://idp.internal/jwks.json"})
    assert settings.auth_jwt_secret is None
    assert settings.auth_jwks_url == "http://idp.internal/jwks.json"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL is invalid: must be a postgresql:// URL"),
        ("AUTH_JWT_SECRET", "short", "AUTH_JWT_SECRET is invalid: must be at least 32 bytes"),
        ("PORT", "http", "PORT is invalid: 'http' is not an integer"),
        ("PORT", "0", "PORT is invalid: 0 is not between 1 and 65535"),
        ("PORT", "65536", "PORT is invalid: 65536 is not between 1 and 65535"),
        ("ROLE", "both", "ROLE is invalid: 'both' is not one of all, api, worker"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT is invalid: 'xml' is not one of json, console"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL is invalid: 'loud' is not one of debug, info"),
        ("DB_POOL_SIZE", "0", "DB_POOL_SIZE is invalid: 0 is not between 1 and 1000"),
        ("RUNNER_CONCURRENCY", "1.5", "RUNNER_CONCURRENCY is invalid: '1.5' is not an integer"),
        ("JOB_LEASE_SECONDS", "0", "JOB_LEASE_SECONDS is invalid: 0 must be greater than 0"),
        ("JOB_LEASE_SECONDS", "soon", "JOB_LEASE_SECONDS is invalid: 'soon' is not a number"),
        ("JOB_MAX_ATTEMPTS", "101", "JOB_MAX_ATTEMPTS is invalid: 101 is not between 1 and 100"),
        ("JOB_TIMEOUT_SECONDS", "-1", "JOB_TIMEOUT_SECONDS is invalid: -1 must be greater"),
        ("JOB_TYPE_TIMEOUTS", "sleep", "JOB_TYPE_TIMEOUTS is invalid: 'sleep' is not TYPE=SECONDS"),
        ("JOB_TYPE_TIMEOUTS", "sleep=0", "JOB_TYPE_TIMEOUTS is invalid: 0 must be greater than 0"),
        ("JOB_TYPE_TIMEOUTS", "=5", "JOB_TYPE_TIMEOUTS is invalid: '=5' is not TYPE=SECONDS"),
        ("SSE_HEARTBEAT_SECONDS", "nan?", "SSE_HEARTBEAT_SECONDS is invalid: 'nan?' is not a"),
        ("SHUTDOWN_GRACE_SECONDS", "-5", "SHUTDOWN_GRACE_SECONDS is invalid: -5 must not be"),
    ],
)
def test_invalid_setting_names_it_in_one_line(name: str, value: str, expected: str) -> None:
    """API configuration: an invalid setting stops start-up with one line naming it."""
    assert error_for(**{name: value}).startswith(expected)


def test_nan_is_not_a_positive_number() -> None:
    """API configuration: a duration must be a real, positive number."""
    assert error_for(SSE_HEARTBEAT_SECONDS="nan").startswith("SSE_HEARTBEAT_SECONDS is invalid")


def test_repr_hides_the_secret_and_the_database_password() -> None:
    """Settings may be logged: their repr shows neither the JWT secret nor the DB password."""
    text = repr(Settings.from_env(BASE))
    assert SECRET not in text
    assert "hunter2" not in text
    assert "postgresql://app:***@db.internal:5432/jobs" in text
    assert "port=8080" in text
    assert str(Settings.from_env(BASE)) == text


def test_repr_of_a_url_without_password() -> None:
    settings = Settings.from_env({**BASE, "DATABASE_URL": "postgresql://app@db/jobs"})
    assert "postgresql://app@db/jobs" in repr(settings)


def test_settings_are_frozen() -> None:
    settings = Settings.from_env(BASE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]


def test_timeout_for_a_job_type() -> None:
    """JOB_TYPE_TIMEOUTS first, then the type's own timeout, then JOB_TIMEOUT_SECONDS."""
    settings = Settings.from_env(
        {**BASE, "JOB_TYPE_TIMEOUTS": "sleep=5", "JOB_TIMEOUT_SECONDS": "30"}
    )
    assert settings.timeout_for("sleep", 3660) == 5
    assert settings.timeout_for("echo", 60) == 60
    assert settings.timeout_for("other", None) == 30


def test_cli_prints_one_line_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """API configuration: the command stops with one clear line naming the setting."""
    monkeypatch.setenv("DATABASE_URL", URL)
    monkeypatch.setenv("AUTH_JWT_SECRET", SECRET)
    monkeypatch.setenv("PORT", "eighty")
    assert main(["serve", "--no-migrate"]) == 2
    assert capsys.readouterr().err == "content-jobs: PORT is invalid: 'eighty' is not an integer\n"
    monkeypatch.delenv("AUTH_JWT_SECRET")
    assert main(["token", "--company", "acme"]) == 2
    assert capsys.readouterr().err == "content-jobs: AUTH_JWT_SECRET is required but not set\n"


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("FALSE", False), ("1", True)])
def test_metrics_company_labels_are_off_unless_asked_for(raw: str, expected: bool) -> None:
    assert Settings.from_env(BASE).metrics_company_labels is False
    assert Settings.from_env({**BASE, "METRICS_COMPANY_LABELS": raw}).metrics_company_labels is (
        expected
    )
    assert error_for(METRICS_COMPANY_LABELS="yes").startswith(
        "METRICS_COMPANY_LABELS is invalid: 'yes' is not true or false"
    )


#: the variables CONTRACT.md names: renaming one breaks every deployment that sets it
CONTRACT_VARIABLES = (
    "DATABASE_URL", "AUTH_JWT_SECRET", "HOST", "PORT", "ROLE", "LOG_FORMAT", "LOG_LEVEL",
    "DB_POOL_SIZE", "RUNNER_CONCURRENCY", "JOB_LEASE_SECONDS", "JOB_MAX_ATTEMPTS",
    "SSE_HEARTBEAT_SECONDS", "SHUTDOWN_GRACE_SECONDS", "AUTH_JWKS_URL", "AUTH_ISSUER",
    "AUTH_AUDIENCE", "JOB_TYPE_MODULES", "JOB_INPUT_MAX_BYTES", "COMPANY_MAX_QUEUED",
    "COMPANY_MAX_RUNNING", "SSE_MAX_STREAMS_PER_CALLER", "WEBHOOK_SECRET",
    "WEBHOOK_ALLOWED_HOSTS", "METRICS_PORT", "METRICS_COMPANY_LABELS",
)  # fmt: skip
#: fields that are not read from the environment (tests tune them)
INTERNAL_FIELDS = {"sweep_interval_seconds", "poll_interval_seconds"}


def test_every_field_is_declared_with_its_variable() -> None:
    """A field added without `setting(...)` would be read from nowhere and documented nowhere."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert set(SETTINGS) == fields - INTERNAL_FIELDS
    envs = [declared.env for declared in SETTINGS.values()]
    assert len(envs) == len(set(envs))
    assert set(CONTRACT_VARIABLES) <= set(envs)


def test_each_declaration_has_one_line_of_doc_and_a_known_group() -> None:
    for name, declared in SETTINGS.items():
        assert declared.doc and "\n" not in declared.doc and "|" not in declared.doc, name
        assert declared.group in GROUPS, name
    assert {declared.group for declared in SETTINGS.values()} == set(GROUPS)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_declared_variable_is_read(name: str) -> None:
    """`from_env` reads every declaration: an invalid value of any of them names it."""
    declared = SETTINGS[name]
    if declared.parse is str:  # any text is valid: it is taken as it is
        assert getattr(Settings.from_env({**BASE, declared.env: " x y "}), name) == "x y"
        return
    message = error_for(**{declared.env: "\x00 not valid"})
    assert message.startswith(f"{declared.env} is invalid: ")


def test_an_unset_variable_takes_the_default_it_is_documented_with() -> None:
    """The README's default column comes from the same declaration as the value."""
    settings = Settings.from_env(BASE)
    assert SETTINGS["port"].shown_default == "`8080`" and settings.port == 8080
    assert SETTINGS["job_lease_seconds"].shown_default == "`30`"
    assert settings.job_lease_seconds == 30.0
    assert SETTINGS["metrics_company_labels"].shown_default == "`false`"
    assert SETTINGS["company_max_running"].shown_default == "none"
    assert settings.company_max_running is None
    assert SETTINGS["s3_prefix"].shown_default == "empty" and settings.s3_prefix == ""
    assert SETTINGS["database_url"].shown_default == "required"


def test_each_instance_has_its_own_mapping_default() -> None:
    assert Settings.from_env(BASE).job_type_timeouts == {}
    assert Settings.from_env(BASE).job_type_timeouts is not (
        Settings.from_env(BASE).job_type_timeouts
    )


def test_replace_keeps_the_other_values() -> None:
    """`dataclasses.replace(settings, ...)`, used throughout the tests, still works."""
    settings = Settings.from_env({**BASE, "PORT": "9000"})
    changed = dataclasses.replace(settings, runner_concurrency=4)
    assert (changed.port, changed.runner_concurrency) == (9000, 4)
    assert changed.auth_jwt_secret == SECRET
