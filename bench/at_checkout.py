"""`python -m bench.at_checkout serve ...`: run `service` from another checkout, for A/B runs.

A before/after comparison must run both versions in the same minutes on the same
machine (this one is shared and noisy), so `bench.fanout_compare` starts the "before"
api replica from a copy of an older commit: `BENCH_SERVICE_ROOT` names the directory
whose `service` package is imported instead of this checkout's.

`BENCH_GC_LOG=<path>` appends a line per garbage collection that took over a millisecond
(generation, seconds, wall-clock time) to `<path>`: a full collection of a heap holding
10,000 streams' objects is a pause every stream waits for. `BENCH_GC_CENSUS=1` also counts
the young generation's objects by type before each of its collections.

`BENCH_TRACEMALLOC=<path>` writes a tracemalloc snapshot to `<path>.<n>` on every SIGUSR1,
so the memory a stream holds can be read from a real replica serving real streams
(`python -m bench.memory`). Tracing (25 frames) starts at the first signal: from the start
it would slow the replica's start-up past the benchmark's patience.
"""

from __future__ import annotations

import collections
import gc
import os
import runpy
import signal
import sys
import time
import tracemalloc
from types import FrameType


def main() -> None:
    root = os.environ.get("BENCH_SERVICE_ROOT")
    if root:
        sys.path.insert(0, root)
    path = os.environ.get("BENCH_TRACEMALLOC")
    if path:
        _trace(path)
    path = os.environ.get("BENCH_GC_LOG")
    if path:
        _time_collections(path)
    sys.argv[0] = "service"
    runpy.run_module("service", run_name="__main__", alter_sys=True)


def _time_collections(path: str) -> None:
    out = open(path, "a", buffering=1)  # noqa: SIM115 (for the process's life)
    started = [0.0]

    census = os.environ.get("BENCH_GC_CENSUS") == "1"

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if census and info["generation"] == 0:
                kinds = collections.Counter(type(o).__qualname__ for o in gc.get_objects(0))
                out.write(f"census {time.time():.3f} {kinds.most_common(12)}\n")
            started[0] = time.perf_counter()
            return
        took = time.perf_counter() - started[0]
        if took > 0.001:
            out.write(f"{info['generation']} {took:.4f} {time.time():.3f}\n")

    gc.callbacks.append(timed)


def _trace(path: str) -> None:
    count = 0

    def dump(_signum: int, _frame: FrameType | None) -> None:
        nonlocal count
        count += 1
        if not tracemalloc.is_tracing():
            tracemalloc.start(25)
        tracemalloc.take_snapshot().dump(f"{path}.{count}.part")
        os.replace(f"{path}.{count}.part", f"{path}.{count}")  # whole, or not there

    signal.signal(signal.SIGUSR1, dump)


if __name__ == "__main__":
    main()
