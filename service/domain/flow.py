"""Flow control: rate limits per job type and the companies' weights in the fair share.

Both are enforced by the claim itself (sql/queries.sql `claim_jobs`), so they hold across
every worker of the fleet: a rate limit counts starts in the database, not in a process, and
a weight changes how the claim ranks each company's next jobs. This module holds their
rules and their spelling (`echo=5/1s`, `acme=3`); it does no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping

#: `N/Ts` or `N/Ts/company`: N starts per T seconds (of the type, or of the type per company)
_RATE = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+(?:\.[0-9]+)?)\s*s\s*(/\s*company\s*)?")
#: a limit's starts per window, at most (each is a row of slots in the database)
MAX_RATE_STARTS = 10_000
#: a limit's window, at most (a day)
MAX_RATE_SECONDS = 86_400.0
#: a company's weight, at most (and more than 0)
MAX_WEIGHT = 1000.0


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most `starts` jobs of `job_type` start in any window of `seconds`, across every
    worker; per company when `per_company` (each company has its own window)."""

    job_type: str
    starts: int
    seconds: float
    per_company: bool = False

    def __str__(self) -> str:
        suffix = "/company" if self.per_company else ""
        return f"{self.starts}/{self.seconds:g}s{suffix}"


def parse_rate(job_type: str, text: str) -> RateLimit:
    """`5/1s` or `100/60s/company` for `job_type`; ValueError saying what is wrong."""
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not N/Ts or N/Ts/company (e.g. 5/1s)")
    starts, seconds = int(match[1]), float(match[2])
    if not 1 <= starts <= MAX_RATE_STARTS:
        raise ValueError(f"{text!r}: N must be from 1 to {MAX_RATE_STARTS}")
    if not 0 < seconds <= MAX_RATE_SECONDS:
        raise ValueError(f"{text!r}: T must be more than 0 and at most {MAX_RATE_SECONDS:g}")
    return RateLimit(job_type, starts, seconds, per_company=match[3] is not None)


def parse_rate_limits(raw: str) -> dict[str, RateLimit]:
    """`echo=5/1s,render=100/60s/company` -> each type's limit (JOB_TYPE_RATE_LIMITS)."""
    limits: dict[str, RateLimit] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, rate = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{item.strip()!r} is not TYPE=N/Ts")
        limits[name.strip()] = parse_rate(name.strip(), rate)
    return limits


def parse_weights(raw: str) -> dict[str, float]:
    """`acme=3,beta=0.5` -> each company's weight (COMPANY_WEIGHTS; the others weigh 1)."""
    weights: dict[str, float] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        company, sep, value = item.partition("=")
        if not sep or not company.strip():
            raise ValueError(f"{item.strip()!r} is not COMPANY=WEIGHT")
        try:
            weight = float(value)
        except ValueError:
            raise ValueError(f"{value.strip()!r} is not a number") from None
        if not 0 < weight <= MAX_WEIGHT:
            raise ValueError(
                f"{company.strip()}'s weight must be more than 0, at most {MAX_WEIGHT:g}"
            )
        weights[company.strip()] = weight
    return weights


@dataclasses.dataclass(frozen=True)
class FlowControl:
    """What the claim needs besides its slots: the rate limits in force and the weights.

    Empty (the default), the claim does no extra work: its limit and weight arrays are
    empty."""

    rate_limits: tuple[RateLimit, ...] = ()
    weights: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(
        cls,
        configured: Mapping[str, RateLimit],
        declared: Iterable[RateLimit],
        weights: Mapping[str, float],
    ) -> FlowControl:
        """The limits in force: a type's own (`rate_limit=` in its code) unless the setting
        names the type, which wins."""
        limits = {limit.job_type: limit for limit in declared}
        limits.update(configured)
        return cls(tuple(limits[name] for name in sorted(limits)), dict(weights))

    def limit_arrays(self) -> tuple[list[str], list[int], list[float], list[bool]]:
        """The limits as the claim's parallel arrays: types, starts, seconds, per company."""
        limits = self.rate_limits
        return (
            [limit.job_type for limit in limits],
            [limit.starts for limit in limits],
            [limit.seconds for limit in limits],
            [limit.per_company for limit in limits],
        )

    def weight_arrays(self) -> tuple[list[str], list[float]]:
        """The weights as the claim's parallel arrays: companies, weights."""
        return list(self.weights), list(self.weights.values())


NO_FLOW_CONTROL = FlowControl()
