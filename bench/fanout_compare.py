"""`python -m bench.fanout_compare --before REV`: the fan-out of this checkout against an older
commit's, in the same run, alternating.

This machine is shared and noisy: a figure taken an hour apart says more about the host
than about a change. So each round runs the fan-out workload (`bench/fanout.py`) once with
the api replica of REV (exported with `git archive` into a temporary directory and started
through `bench.at_checkout`) and once with this checkout's, in alternating order, on the
same Postgres, worker and clients. Prints each run and the medians; `--out` keeps the JSON.

    python -m bench.fanout_compare --before HEAD --streams 10000 --rounds 3
    python -m bench.fanout_compare --before HEAD --client-cpus 1 --server-cpus 0
    python -m bench.fanout_compare --before HEAD --api-cpus 0 --client-cpus 1 --server-cpus 1
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import fanout
from bench.cluster import ROOT, Cluster
from bench.options import Options
from bench.stats import median_runs

FIGURES = (
    "p50_ms",
    "p99_ms",
    "max_ms",
    "steady_p99_ms",
    "running_min_ms",
    "running_p99_ms",
    "first_step_p99_ms",
    "middle_p99_ms",
    "end_p99_ms",
    "kib_per_stream",
    "api_cpu",
    "api_us_per_event",
    "clients_cpu",
    "nginx_cpu",
    "events_missing",
)


def export(rev: str, into: Path) -> Path:
    """The `service` and `sql` trees of `rev` (symlink `service/sql` included) under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "service", "sql"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


async def compare(args: argparse.Namespace) -> dict[str, Any]:
    options = dataclasses.replace(Options(), profile=args.profile)
    cluster = Cluster()
    await cluster.start()
    with tempfile.TemporaryDirectory(prefix="content-jobs-before-") as before:
        export(args.before, Path(before))
        variants: dict[str, dict[str, str]] = {
            "before": {"BENCH_SERVICE_ROOT": before},
            "after": {},
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        try:
            for round_ in range(args.rounds):
                order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
                for name in order:
                    env = dict(variants[name])
                    if args.gc_log:
                        env["BENCH_GC_LOG"] = str(args.gc_log / f"gc-{name}-{round_ + 1}.log")
                    figures = await fanout.one_run(
                        cluster,
                        options,
                        args.streams,
                        apis=args.apis,
                        tag=f"-{name}-{round_}",
                        client_cpus=args.client_cpus,
                        server_cpus=args.server_cpus,
                        api_cpus=args.api_cpus,
                        api_module="bench.at_checkout",
                        api_env=env,
                    )
                    runs[name].append(figures)
                    print(_line(f"round {round_ + 1} {name:6}", figures), flush=True)
        finally:
            await cluster.close()
    result: dict[str, dict[str, Any]] = {
        name: {"median": median_runs(r), "runs": r} for name, r in runs.items()
    }
    for name, data in result.items():
        print(_line(f"median  {name:6}", data["median"]))
    return result


def _line(label: str, figures: dict[str, Any]) -> str:
    return f"{label}: " + ", ".join(f"{k} {figures.get(k)}" for k in FIGURES)


def _cpus(text: str) -> set[int]:
    return {int(c) for c in text.split(",")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_compare", description=__doc__)
    parser.add_argument("--before", default="HEAD", help="the commit to compare with (HEAD)")
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--apis", type=int, default=1, help="api replicas (2: behind nginx)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--client-cpus", type=_cpus, help="pin the clients, e.g. 1")
    parser.add_argument(
        "--server-cpus", type=_cpus, help="pin the rest (Postgres, replicas, nginx), e.g. 0"
    )
    parser.add_argument("--api-cpus", type=_cpus, help="then pin the api replicas, e.g. 0")
    parser.add_argument("--profile", action="store_true", help="py-spy each run's api replica")
    parser.add_argument(
        "--gc-log", type=Path, help="a directory: each api replica's garbage collections over 1 ms"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = asyncio.run(compare(args))
    meta = {"command": " ".join(["python -m bench.fanout_compare", *sys.argv[1:]])}
    meta["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.out:
        args.out.write_text(json.dumps({**meta, **result}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
