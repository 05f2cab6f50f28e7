"""`python -m bench.report [FILE]`: a results file as the Markdown of BENCHMARKS.md.

Prints the table, the command, the dates and the machine, so the figures in
BENCHMARKS.md are pasted from a real run rather than typed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.cli import RESULTS, summary
from bench.stats import fmt, table


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    settings = ", ".join(f"`{k}={v}`" for k, v in machine["postgres_settings"].items())
    dates = {name: w.get("date", "?") for name, w in results["workloads"].items()}
    lines = [
        table(summary(results["workloads"])),
        "",
        f"- Command: `{results['command']}` (figures: medians of {results['options']['runs']}"
        " runs each)",
        f"- Date: {results['date']} (per workload: "
        + ", ".join(f"{name} {date}" for name, date in dates.items())
        + ")",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB,"
        f" Linux {machine['kernel']}, Python {machine['python']}; load generators, replicas and"
        " Postgres all on this machine",
        f"- Postgres {machine['postgres']}: {settings}",
    ]
    return "\n".join(lines)


#: (label, workload, path to the figure, target) compared between two results files
HEADLINES = [
    ("submit c=64, req/s", "submit", ("cases", "c=64", "median", "requests_per_s"), None),
    ("submit c=64, share of plain INSERT", "submit",
     ("cases", "c=64", "median", "fraction_of_insert"), ">= 0.50"),
    ("submit c=64, p99 ms", "submit", ("cases", "c=64", "median", "p99_ms"), "< 50"),
    ("submit c=64, wrk p99 ms", "submit", ("cases", "c=64", "median", "wrk_p99_ms"), "< 50"),
    ("batch submit, jobs/s", "submit", ("cases", "batch", "median", "jobs_per_s"), ">= 10000"),
    ("enqueue to start, p99 ms", "start", ("median", "p99_ms"), "< 5"),
    ("fan-out 10,000, p99 ms (burst)", "fanout",
     ("cases", "10000 streams", "median", "p99_ms"), "< 150"),
    ("fan-out 10,000, steady p99 ms", "fanout",
     ("cases", "10000 streams", "median", "steady_p99_ms"), "< 50"),
    ("fan-out 10,000, KiB/stream", "fanout",
     ("cases", "10000 streams", "median", "kib_per_stream"), "< 19.5 (20 kB)"),
    ("fan-out 20,000 via nginx, p99 ms", "fanout",
     ("cases", "20000 streams, 2 api + nginx", "median", "p99_ms"), "< 100"),
    ("throughput 1 worker, jobs/s", "throughput",
     ("cases", "1 worker", "median", "jobs_per_s"), None),
    ("throughput 1 worker at concurrency 100, jobs/s", "throughput",
     ("cases", "1 worker, concurrency 100", "median", "jobs_per_s"), None),
    ("ours / best pgqueuer", "throughput", ("ours_over_pgqueuer",), ">= 1"),
    ("ours / procrastinate", "throughput", ("ours_over_procrastinate",), ">= 5"),
    ("throughput 1 worker, fair / FIFO claim", "throughput", ("fair_over_fifo",), ">= 0.90"),
    ("claim statement alone, fair / fifo", "claim", ("fair_over_fifo",), None),
    ("prune 1M events: the events' share, s before", "prune", ("before_events_seconds",), None),
    ("prune 1M events: the events' share, s after", "prune", ("after_events_seconds",), None),
    ("prune 1M events with 250k jobs, s before", "prune", ("before_seconds",), None),
    ("prune 1M events with 250k jobs, s after", "prune", ("after_seconds",), None),
]  # fmt: skip


def compare(before: dict[str, Any], after: dict[str, Any]) -> str:
    """The headline figures of two results files side by side."""
    rows = [["figure", "baseline", "now", "target"]]
    for label, workload, path, target in HEADLINES:
        rows.append([
            label,
            fmt(_dig(before, workload, path)),
            fmt(_dig(after, workload, path)),
            target or "",
        ])  # fmt: skip
    return table(rows)


def _dig(results: dict[str, Any], workload: str, path: tuple[str, ...]) -> Any:
    value: Any = results["workloads"].get(workload)
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(markdown(json.loads(path.read_text())))
    baseline = path.with_name("baseline.json")
    if path != baseline and baseline.exists():
        print("\n" + compare(json.loads(baseline.read_text()), json.loads(path.read_text())))
