"""CONTRACT "Flow control": how JOB_TYPE_RATE_LIMITS and COMPANY_WEIGHTS are spelled, that a
bad one stops start-up naming the variable, and that the setting wins over a type's own
`rate_limit`."""

from __future__ import annotations

import pytest

from service.domain.flow import FlowControl, RateLimit, parse_rate, parse_rate_limits
from service.settings import Settings, SettingsError

BASE = {"DATABASE_URL": "postgresql://localhost/x", "AUTH_JWT_SECRET": "s" * 32}


def test_rate_limits_are_read() -> None:
    settings = Settings.from_env(
        {**BASE, "JOB_TYPE_RATE_LIMITS": "echo=5/1s, render=100/60s,llm.chat=2/0.5s/company"}
    )
    assert settings.job_type_rate_limits == {
        "echo": RateLimit("echo", 5, 1.0),
        "render": RateLimit("render", 100, 60.0),
        "llm.chat": RateLimit("llm.chat", 2, 0.5, per_company=True),
    }
    assert str(settings.job_type_rate_limits["llm.chat"]) == "2/0.5s/company"


def test_weights_are_read() -> None:
    settings = Settings.from_env({**BASE, "COMPANY_WEIGHTS": "acme=3,beta=0.5"})
    assert settings.company_weights == {"acme": 3.0, "beta": 0.5}
    assert Settings.from_env(BASE).company_weights == {}


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("JOB_TYPE_RATE_LIMITS", "echo"),
        ("JOB_TYPE_RATE_LIMITS", "echo=5"),
        ("JOB_TYPE_RATE_LIMITS", "echo=5/1m"),
        ("JOB_TYPE_RATE_LIMITS", "echo=0/1s"),
        ("JOB_TYPE_RATE_LIMITS", "echo=5/0s"),
        ("JOB_TYPE_RATE_LIMITS", "echo=5/1s/tenant"),
        ("JOB_TYPE_RATE_LIMITS", "=5/1s"),
        ("COMPANY_WEIGHTS", "acme"),
        ("COMPANY_WEIGHTS", "acme=0"),
        ("COMPANY_WEIGHTS", "acme=x"),
        ("COMPANY_WEIGHTS", "acme=-1"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**BASE, variable: raw})
    assert str(caught.value).startswith(f"{variable} is invalid")


def test_the_setting_wins_over_a_types_own_limit() -> None:
    flow = FlowControl.of(
        parse_rate_limits("echo=5/1s"), [parse_rate("echo", "1/60s"), parse_rate("x", "2/1s")], {}
    )
    assert flow.rate_limits == (RateLimit("echo", 5, 1.0), RateLimit("x", 2, 1.0))
    assert flow.limit_arrays() == (["echo", "x"], [5, 2], [1.0, 1.0], [False, False])
    assert FlowControl().limit_arrays() == ([], [], [], [])
