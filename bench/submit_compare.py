"""`python -m bench.submit_compare --before REV`: submits under `wrk -c64` to an api replica of
this checkout, one of an older commit's and the hand-written peer (`bench/naive.py`), in the
same run, alternating; then the same two replicas with one company's backlog.

This machine is shared and noisy, so only figures taken side by side in the same minutes
compare. Each round of the first part runs `wrk` (`bench/submit.py`'s script, 64 connections)
against the "before" replica (exported from REV with `git archive`, started through
`bench.at_checkout`), this checkout's and the naive handler, in turn (the two replicas'
order alternating), each from an empty job table; it also reads the replica's CPU per
request from `/proc`. The second part inserts `--backlog` queued jobs of one company
(`COMPANY_MAX_QUEUED=1000000` on both replicas) and loads, per round and replica, that
company and one with an empty queue: a submit must cost the same for both.

`--paths` narrows "before" to some files: this checkout with those paths as they were at
REV, so one change is measured apart from the others made since.

    python -m bench.submit_compare --before 9447dba --paths service/domain/quota.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cluster import COMPANY, ROOT, SECRET, Cluster, Replica
from bench.naive import CREATE
from bench.stats import median_runs
from bench.submit import EMPTY_COMPANY, QUEUED, _accepting, _start_naive, wrk
from service.api.auth import issue_token
from service.dev.pgserver import free_port

CLIENTS = 64
POOL_SIZE = 10


def export(rev: str, into: Path, paths: Sequence[str]) -> Path:
    """`service` and `sql` of `rev` under `into`; with `paths`, this checkout's with only those
    paths taken from `rev`."""
    archive = ["git", "-C", str(ROOT), "archive", rev, *(paths or ["service", "sql"])]
    if paths:
        for tree in ("service", "sql"):
            shutil.copytree(ROOT / tree, into / tree, symlinks=True)
    tar = subprocess.run(archive, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return into


async def compare(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Cluster()
    await cluster.start()
    naive_port = free_port()
    naive = _start_naive(naive_port, cluster.dsn, POOL_SIZE)
    try:
        await _accepting("127.0.0.1", naive_port)
        await cluster.db().execute(CREATE)
        with tempfile.TemporaryDirectory(prefix="content-jobs-before-") as before:
            export(args.before, Path(before), args.paths)
            roots = {"before": before, "after": str(ROOT)}
            return {
                "flat": await _flat(cluster, args, roots, naive_port),
                "backlog": await _backlog(cluster, args, roots),
            }
    finally:
        naive.terminate()
        naive.wait()
        await cluster.close()


async def _replicas(cluster: Cluster, roots: dict[str, str], quota: str) -> dict[str, Replica]:
    replicas = {}
    for name, root in roots.items():
        replicas[name] = await cluster.replica(
            "api", pool_size=POOL_SIZE, module="bench.at_checkout", LOG_LEVEL="info",
            COMPANY_MAX_QUEUED=quota, BENCH_SERVICE_ROOT=root,
        )  # fmt: skip
    return replicas


async def _flat(
    cluster: Cluster, args: argparse.Namespace, roots: dict[str, str], naive_port: int
) -> dict[str, Any]:
    """Per round: before, after (alternating) and the naive handler, each on an empty table."""
    replicas = await _replicas(cluster, roots, "1000000000")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in [*replicas, "naive"]}
    for round_ in range(args.rounds):
        order = list(replicas) if round_ % 2 == 0 else list(reversed(replicas))
        for name in order:
            await cluster.reset()
            replica = replicas[name]
            cpu = replica.cpu_seconds()
            rps, p99 = wrk(cluster, replica.host, replica.port, CLIENTS, args.seconds)
            us = (replica.cpu_seconds() - cpu) / max(1.0, rps * args.seconds) * 1e6
            runs[name].append({"rps": rps, "p99_ms": p99, "api_us_per_request": round(us)})
        await cluster.db().execute("TRUNCATE bench_naive")
        rps, p99 = wrk(cluster, "127.0.0.1", naive_port, CLIENTS, args.seconds)
        runs["naive"].append({"rps": rps, "p99_ms": p99})
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"round {round_ + 1} (load {load}): " + _line(runs, -1), flush=True)
    for replica in replicas.values():
        replica.stop()
    result: dict[str, Any] = {n: {"median": median_runs(r), "runs": r} for n, r in runs.items()}
    naive_rps = result["naive"]["median"]["rps"]
    for name in replicas:
        result[name]["median"]["over_naive"] = round(result[name]["median"]["rps"] / naive_rps, 2)
    print("medians: " + ", ".join(f"{name} {data['median']}" for name, data in result.items()))
    return result


async def _backlog(
    cluster: Cluster, args: argparse.Namespace, roots: dict[str, str]
) -> dict[str, Any]:
    """Per round and replica (alternating): the backlog company, then the empty one (or the
    other way round, alternating too)."""
    replicas = await _replicas(cluster, roots, "1000000")
    both = issue_token(SECRET, [COMPANY, EMPTY_COMPANY], sub="bench")
    await cluster.reset()
    for start in range(0, args.backlog, 100_000):
        await cluster.insert_jobs(min(100_000, args.backlog - start), "echo", [{}])
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in replicas}
    for round_ in range(args.rounds):
        order = list(replicas) if round_ % 2 == 0 else list(reversed(replicas))
        for name in order:
            replica = replicas[name]
            figures: dict[str, Any] = {"queued": await cluster.db().fetchval(QUEUED, COMPANY)}
            companies = [COMPANY, EMPTY_COMPANY] if round_ % 2 == 0 else [EMPTY_COMPANY, COMPANY]
            for company in companies:
                key = "backlog" if company == COMPANY else "empty"
                figures[f"{key}_rps"], figures[f"{key}_p99_ms"] = wrk(
                    cluster, replica.host, replica.port, CLIENTS, args.seconds,
                    company=company, bearer=both,
                )  # fmt: skip
            runs[name].append(figures)
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"backlog round {round_ + 1} (load {load}): " + _line(runs, -1), flush=True)
    for replica in replicas.values():
        replica.stop()
    result = {name: {"median": median_runs(r), "runs": r} for name, r in runs.items()}
    print("medians: " + ", ".join(f"{name} {data['median']}" for name, data in result.items()))
    return result


def _line(runs: dict[str, list[dict[str, Any]]], index: int) -> str:
    return "; ".join(f"{name} {r[index]}" for name, r in runs.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.submit_compare", description=__doc__)
    parser.add_argument("--before", default="HEAD", help="the commit to compare with (HEAD)")
    parser.add_argument("--paths", nargs="*", default=[], help="only these paths from --before")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="per wrk run")
    parser.add_argument("--backlog", type=int, default=100_000, help="the company's queued jobs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk; see bench/tools.sh)")
    result = asyncio.run(compare(args))
    meta = {
        "command": " ".join(["python -m bench.submit_compare", *sys.argv[1:]]),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if args.out:
        args.out.write_text(json.dumps({**meta, **result}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
