"""`python -m bench.send_cost --streams 10000`: what one event costs per stream at the least.

A burst of one event to N parked streams is N `send()` system calls, one per connection
(`service/events/listener.py` writes each job's chunk, encoded once, to every stream's
transport). This measures that floor without the service: N loopback connections to a
reader process (one asyncio protocol, like the fan-out's clients), and N `transport.write`
calls of an event-sized chunk, timed by the writer's own CPU (what the api replica would
spend) and by the wall clock (what a shared machine lets it have). Rounds are spaced so the
reader has drained the last one.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.queues import Queue
from typing import Any, cast

from bench.cluster import raise_nofile
from bench.loadgen import run

#: an event as a parked stream gets it: an HTTP/1.1 chunk of a ~250-byte SSE frame
CHUNK = b"fa\r\n" + b"x" * 246 + b"\n\n\r\n"


def reader(port: int, streams: int, total: int, out: Queue[str]) -> None:
    """Open `streams` connections and read until `total` chunks have arrived."""
    raise_nofile()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        got = 0

        class Reader(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                nonlocal got
                got += data.count(b"\n\n")
                if got >= total and not done.done():
                    done.set_result(None)

        for _ in range(streams):
            await loop.create_connection(Reader, "127.0.0.1", port)
        out.put("open")
        await done

    run(main)


async def measure(streams: int, rounds: int) -> list[tuple[float, float]]:
    """(writer CPU µs per write, wall µs per write) of each round."""
    loop = asyncio.get_running_loop()
    transports: list[asyncio.Transport] = []

    class Accepted(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transports.append(cast(asyncio.Transport, transport))

    server = await loop.create_server(Accepted, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    context = multiprocessing.get_context("spawn")
    out: Queue[str] = context.Queue()
    process = context.Process(target=reader, args=(port, streams, streams * rounds, out))
    process.start()
    await loop.run_in_executor(None, out.get)
    while len(transports) < streams:
        await asyncio.sleep(0.01)
    results = []
    for _ in range(rounds):
        await asyncio.sleep(0.5)
        wall, cpu = time.perf_counter(), time.process_time()
        for transport in transports:
            transport.write(CHUNK)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        results.append((cpu / streams * 1e6, wall / streams * 1e6))
    await loop.run_in_executor(None, process.join)
    server.close()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.send_cost", description=__doc__)
    parser.add_argument("--streams", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    raise_nofile()
    results: Any = asyncio.run(measure(args.streams, args.rounds))
    for cpu, wall in results:
        print(f"{args.streams} writes: {cpu:.1f} µs CPU, {wall:.1f} µs wall per write")
    cpus = sorted(cpu for cpu, _ in results)
    print(f"median {cpus[len(cpus) // 2]:.1f} µs CPU per write")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
