"""`python -m bench.memory --streams 2000`: what one open event stream holds in an api replica.

Starts an api replica under tracemalloc (`bench.at_checkout`), takes a snapshot, opens N
streams on N/10 queued jobs (the fan-out workload's clients), takes another, and prints
the difference per stream grouped by where it was allocated, beside the replica's RSS
growth per stream (what `bench fanout` reports as KiB/stream). tracemalloc sees Python's
allocations only; RSS also counts the allocator's free space kept, and C allocations.
With `--before REV` the replica runs that commit's code instead (see `fanout_compare`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cluster import COMPANY, Cluster
from bench.fanout import STREAMS_PER_JOB, Clients
from bench.fanout_compare import export


async def measure(args: argparse.Namespace) -> None:
    cluster = Cluster()
    await cluster.start()
    work = Path(tempfile.mkdtemp(prefix="content-jobs-memory-"))
    env: dict[str, Any] = {"SSE_MAX_STREAMS_PER_CALLER": str(args.streams)}
    if args.before:
        env["BENCH_SERVICE_ROOT"] = str(export(args.before, work))
    if args.trace:
        env["BENCH_TRACEMALLOC"] = str(work / "snap")
    try:
        api = await cluster.replica("api", module="bench.at_checkout", **env)
        job_count = max(1, args.streams // STREAMS_PER_JOB)
        inputs = [{"seconds": 60, "steps": 1}] * job_count
        job_ids = await cluster.insert_jobs(job_count, "sleep", inputs)
        base = f"/api/companies/{COMPANY}/content-jobs"
        paths = [
            (i % job_count, f"{base}/{job_ids[i % job_count]}/events") for i in range(args.streams)
        ]
        # warm up: the first stream's code paths and caches are not any stream's share
        warm = Clients(api.host, api.port, paths[:STREAMS_PER_JOB], 3, False)
        await warm.opened()
        await warm.arrivals()
        await asyncio.sleep(1)
        rss_before = api.rss_bytes()
        await _snapshot(api.pid, work / "snap.1", args.trace)
        clients = Clients(api.host, api.port, paths, args.hold, False)
        opened, failed = await clients.opened()
        await asyncio.sleep(1)
        rss_open = api.rss_bytes()
        await _snapshot(api.pid, work / "snap.2", args.trace)
        print(f"streams open {opened} (failed {failed})")
        print(f"RSS per stream: {(rss_open - rss_before) / opened / 1024:.2f} KiB")
        if args.trace:
            _report(work / "snap.1", work / "snap.2", opened, args.depth, args.top)
        api.stop()
        await clients.arrivals()
    finally:
        await cluster.close(keep_logs=args.keep_logs)
        shutil.rmtree(work, ignore_errors=True)  # snapshots and the exported checkout


async def _snapshot(pid: int, path: Path, trace: bool) -> None:
    if not trace:
        return
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 120
    while not await asyncio.to_thread(path.exists):
        assert time.monotonic() < deadline, f"no snapshot at {path}"
        await asyncio.sleep(0.5)


def _report(before: Path, after: Path, streams: int, depth: int, top: int) -> None:
    old = tracemalloc.Snapshot.load(str(before))
    new = tracemalloc.Snapshot.load(str(after))
    total = sum(s.size_diff for s in new.compare_to(old, "filename"))
    print(f"tracemalloc per stream: {total / streams / 1024:.2f} KiB (Python allocations)")
    print(f"\nby line (bytes per stream, blocks per stream), top {top}:")
    for stat in new.compare_to(old, "lineno")[:top]:
        frame = stat.traceback[0]
        where = f"{_short(frame.filename)}:{frame.lineno}"
        print(f"{stat.size_diff / streams:8.0f} B {stat.count_diff / streams:6.2f}  {where}")
    if depth > 1:
        print(f"\nby the innermost {depth} frames, top {top}:")
        sizes, counts = _by_frames(new, depth)
        old_sizes, old_counts = _by_frames(old, depth)
        for key in sorted(sizes, key=lambda k: old_sizes.get(k, 0) - sizes[k])[:top]:
            size = (sizes[key] - old_sizes.get(key, 0)) / streams
            count = (counts[key] - old_counts.get(key, 0)) / streams
            print(f"{size:8.0f} B {count:6.2f}  {' < '.join(key)}")


def _by_frames(
    snapshot: tracemalloc.Snapshot, depth: int
) -> tuple[dict[tuple[str, ...], int], dict[tuple[str, ...], int]]:
    """Bytes and blocks by the `depth` most recent frames of their allocation."""
    sizes: dict[tuple[str, ...], int] = {}
    counts: dict[tuple[str, ...], int] = {}
    for trace in snapshot.traces:
        frames = list(trace.traceback)[::-1][:depth]  # most recent first
        key = tuple(f"{_short(f.filename)}:{f.lineno}" for f in frames)
        sizes[key] = sizes.get(key, 0) + trace.size
        counts[key] = counts.get(key, 0) + 1
    return sizes, counts


def _short(filename: str) -> str:
    parts = filename.split("/")
    return "/".join(parts[-2:])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--before", help="run the api replica of this commit instead")
    parser.add_argument("--no-trace", dest="trace", action="store_false", help="RSS only")
    parser.add_argument("--depth", type=int, default=1, help="frames per traceback group")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--keep-logs", action="store_true", help="keep the replica's log")
    parser.add_argument("--hold", type=float, default=60, help="seconds the clients wait")
    args = parser.parse_args(argv)
    asyncio.run(measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
