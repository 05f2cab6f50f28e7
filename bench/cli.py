"""`python -m bench [WORKLOAD ...] [--smoke] [--runs N]`: run workloads, print, save JSON.

With no workload named, all run in order. Results go to
`bench/results/latest.json`, merged with the workloads it already holds
that this invocation did not run, so one workload can be re-measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import math
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench import claim, fanout, history, prune, start, submit, throughput
from bench.cluster import Cluster
from bench.options import Options
from bench.stats import table

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
#: smoke runs never overwrite the real figures
SMOKE_RESULTS = RESULTS.with_name("smoke.json")

Workload = tuple[
    Callable[[Cluster, Options], Awaitable[dict[str, Any]]],
    Callable[[dict[str, Any]], list[list[str]]],
]
WORKLOADS: dict[str, Workload] = {
    "submit": (submit.run, submit.rows),
    "start": (start.run, start.rows),
    "fanout": (fanout.run, fanout.rows),
    "throughput": (throughput.run, throughput.rows),
    "claim": (claim.run, claim.rows),
    "prune": (prune.run, prune.rows),
    "history": (history.run, history.rows),
}
#: `peer` is measured with throughput, in the same run, so its ratio compares like with like
ALIASES = {"peer": "throughput"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "workloads", nargs="*", metavar="WORKLOAD",
        help=f"some of: {', '.join([*WORKLOADS, *ALIASES])} (default: all)",
    )  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: seconds, not minutes")
    parser.add_argument("--runs", type=int, help="runs per figure (default 3; the median is kept)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the busiest replica (bench/results/profiles)"
    )
    parser.add_argument("--out", type=Path, help=f"JSON file to write (default {RESULTS.name})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.workloads if n not in WORKLOADS and n not in ALIASES]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}")
    names = list(dict.fromkeys(ALIASES.get(n, n) for n in args.workloads)) or list(WORKLOADS)
    options = Options.smoke() if args.smoke else Options()
    if args.runs:
        options = dataclasses.replace(options, runs=args.runs)
    if args.profile:
        options = dataclasses.replace(options, profile=True)
    command = " ".join(
        ["python -m bench", shlex.join(sys.argv[1:] if argv is None else argv)]
    ).strip()
    results = asyncio.run(run(names, options, command))
    print(table(summary(results["workloads"])))
    out = args.out or (SMOKE_RESULTS if args.smoke else RESULTS)
    save(results, out)
    print(f"\nwrote {out}")
    return 0


async def run(names: list[str], options: Options, command: str) -> dict[str, Any]:
    cluster = Cluster()
    try:
        await cluster.start()
        machine = await cluster.machine()
        done: dict[str, Any] = {}
        for name in names:
            began = time.monotonic()
            print(f"-- {name} ...", file=sys.stderr, flush=True)
            result = await WORKLOADS[name][0](cluster, options)
            result["date"] = _now()
            result["wall_seconds"] = round(time.monotonic() - began, 1)
            done[name] = result
            print(table(summary({name: result})), file=sys.stderr, flush=True)
    except BaseException:
        print(f"replica logs kept in {cluster.log_dir}", file=sys.stderr)
        await cluster.close(keep_logs=True)
        raise
    await cluster.close()
    return {
        "date": _now(),
        "command": command,
        "machine": machine,
        "options": dataclasses.asdict(options),
        "workloads": done,
    }


def summary(workloads: dict[str, Any]) -> list[list[str]]:
    rows = [["workload", "case", "result (median of runs)", "target"]]
    for name, result in workloads.items():
        rows += WORKLOADS[name][1](result)
    return rows


def save(results: dict[str, Any], path: Path) -> None:
    """Write the results, keeping workloads from an earlier file that this run skipped."""
    if path.exists():
        previous = json.loads(path.read_text())
        for name, result in previous.get("workloads", {}).items():
            results["workloads"].setdefault(name, result)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_finite(results), indent=2) + "\n")
    tmp.replace(path)


def _finite(value: Any) -> Any:
    """JSON has no NaN: missing figures become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
