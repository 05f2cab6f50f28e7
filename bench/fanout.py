"""Event latency and fan-out: thousands of open streams on one api replica, and on two api
replicas behind nginx with the repository's `deploy/nginx.conf` (the shape users deploy).

Per case: N streams over N/10 queued `sleep` jobs, opened by plain asyncio
clients in several processes. With every stream open (each has its
snapshot), the api replica's RSS is read from /proc; then a worker replica
starts and runs all jobs at once, each reporting progress about once a
second (job lengths spread over 1x-1.3x so the jobs drift apart instead of
ticking in lockstep). Latency is each event's arrival at each client minus
its row's `created_at`, same machine clock. The api replica's database
connections are sampled from `pg_stat_activity` throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import shutil
import time
from pathlib import Path
from typing import Any

from bench.cluster import COMPANY, QUERIES, Cluster, Replica, token
from bench.options import PROFILES, Options
from bench.sse import PER_SOURCE, Arrival, stream_clients
from bench.start import wait_finished
from bench.stats import fmt, latency_ms, median_runs, pct

#: streams per client process
PER_PROCESS = 2500
STREAMS_PER_JOB = 10
TARGETS = {
    "10000 streams": "steady p99 < 50 ms, burst p99 < 150 ms, < 20 KB/stream",
    "20000 streams, 2 api + nginx": "p99 < 100 ms",
}
#: seconds after the first job started from which events count as steady
STEADY_AFTER = 3.0


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    cases = {}
    for streams in options.fanout_streams:
        runs = [await one_run(cluster, options, streams) for _ in range(options.runs)]
        cases[f"{streams} streams"] = {"median": median_runs(runs), "runs": runs}
    for streams in options.fanout_nginx_streams if shutil.which("nginx") else ():
        runs = [await one_run(cluster, options, streams, apis=2) for _ in range(options.runs)]
        cases[f"{streams} streams, 2 api + nginx"] = {"median": median_runs(runs), "runs": runs}
    return {"cases": cases}


async def one_run(
    cluster: Cluster,
    options: Options,
    streams: int,
    apis: int = 1,
    nginx: bool | None = None,
    *,
    api_module: str = "service",
    api_env: dict[str, str] | None = None,
    tag: str = "",
    client_cpus: set[int] | None = None,
    server_cpus: set[int] | None = None,
    api_cpus: set[int] | None = None,
) -> dict[str, Any]:
    """Through nginx (by default when apis > 1), which spreads the streams round-robin.

    `api_module` and `api_env` start the api replicas from another checkout (see
    `bench.at_checkout`), for before/after runs side by side (`bench.fanout_compare`);
    `tag` names their profiles apart. `client_cpus` pins the client processes to those CPUs
    (a core budget of their own, so that the clients' parsing is not what is measured), and
    `server_cpus` everything else: Postgres, the replicas, nginx (and this process); then
    `api_cpus` the api replicas (a core of their own, say)."""
    await cluster.reset()
    # every client here is one caller (one token): lift the per-caller cap on open streams
    env: dict[str, Any] = {"SSE_MAX_STREAMS_PER_CALLER": str(streams), **(api_env or {})}
    replicas = [
        await cluster.replica("api", pool_size=options.pool_size, module=api_module, **env)
        for _ in range(apis)
    ]
    api = Group(replicas)
    balancer = cluster.load_balancer(replicas) if (apis > 1 if nginx is None else nginx) else None
    if balancer is not None:
        await balancer.wait_ready()
    await asyncio.sleep(0.5)
    rss_before = api.rss_bytes()
    job_count = max(1, streams // STREAMS_PER_JOB)
    seconds = options.fanout_job_seconds
    job_ids = await cluster.insert_jobs(job_count, "sleep", _sleep_inputs(job_count, seconds))
    base = f"/api/companies/{COMPANY}/content-jobs"
    paths = [(i % job_count, f"{base}/{job_ids[i % job_count]}/events") for i in range(streams)]
    front = balancer or replicas[0]
    # the clients' own safety net, counted from when their streams are open: long enough for
    # the other client processes to open theirs and for every job to end
    clients = Clients(
        front.host, front.port, paths, seconds * 1.3 + 180, balancer is not None, client_cpus
    )
    opened, failed = await clients.opened()
    if failed:
        raise RuntimeError(f"{failed} of {streams} streams did not open: not a figure")
    await asyncio.sleep(0.5)
    rss_open = api.rss_bytes()
    connections = await _connections(cluster)
    worker = await cluster.replica("worker", pool_size=options.pool_size, concurrency=job_count)
    if server_cpus:
        pin_tree(os.getpid(), server_cpus, skip=clients.pids)
        pg = cluster.pg.running_pid()
        if pg is not None:
            pin_tree(pg, server_cpus)
    for replica in replicas if api_cpus else ():
        pin_tree(replica.pid, api_cpus or set())
    if options.profile:
        PROFILES.mkdir(parents=True, exist_ok=True)
        replicas[0].profile(seconds, PROFILES / f"fanout-{streams}{tag}-api.txt")
        worker.profile(seconds, PROFILES / f"fanout-{streams}{tag}-worker.txt")
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(_sample_connections(cluster, connections, stop_sampling))
    cpu_before, began = api.cpu_seconds(), time.monotonic()
    lb_before = balancer.cpu_seconds() if balancer else 0.0
    arrivals = await clients.arrivals()
    elapsed = time.monotonic() - began
    api_cpu = (api.cpu_seconds() - cpu_before) / elapsed
    clients_cpu = clients.cpu_seconds / elapsed
    lb_cpu = (balancer.cpu_seconds() - lb_before) / elapsed if balancer else None
    stop_sampling.set()
    await sampler
    await wait_finished(cluster)
    worker.stop()
    for replica in replicas:
        replica.stop()
    if balancer is not None:
        balancer.stop()
    phases: dict[str, list[float]] = {}
    latencies, steady, missing = await _latencies(cluster, job_ids, arrivals, opened, phases)
    return {
        "streams_open": opened,
        "streams_failed": failed,
        "events_delivered": len(arrivals),
        "events_missing": missing,
        **latency_ms(latencies),
        **{f"steady_{k}": v for k, v in latency_ms(steady).items()},
        **{f"{phase}_p99_ms": latency_ms(values)["p99_ms"] for phase, values in phases.items()},
        # the claim's burst: its first delivery is the commit, NOTIFY and read; the rest the
        # sends to every stream (and the clients' reads)
        "running_min_ms": round(min(phases["running"], default=math.nan) * 1000, 2),
        "api_cpu": round(api_cpu, 2),
        # the api replicas' CPU per event delivered to a client: steadier than a latency on a
        # shared host (what the replica does per stream and event, whoever else runs)
        "api_us_per_event": round(api_cpu * elapsed / max(len(arrivals), 1) * 1e6, 2),
        "clients_cpu": round(clients_cpu, 2),
        **({"nginx_cpu": round(lb_cpu, 2)} if lb_cpu is not None else {}),
        "kib_per_stream": round((rss_open - rss_before) / max(opened, 1) / 1024, 1),
        "rss_open_mib": round(rss_open / 2**20, 1),
        "pool_connections_max": connections.get("content-jobs", 0),
        "listener_connections_max": connections.get("content-jobs-listener", 0),
        "pool_size": options.pool_size,
    }


def _sleep_inputs(job_count: int, seconds: float) -> list[dict[str, Any]]:
    """About one step a second; lengths spread over 1x-1.3x so the jobs drift apart."""
    steps = max(1, round(seconds))
    return [
        {"seconds": round(seconds * (1 + 0.3 * i / job_count), 3), "steps": steps}
        for i in range(job_count)
    ]


def pin_tree(root: int, cpus: set[int], skip: frozenset[int] = frozenset()) -> None:
    """Every thread of `root` and of its descendants on `cpus` (`taskset -a -p` of each), but
    for the processes in `skip` and theirs."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    for pid in parents:
        ancestor = pid
        while ancestor not in skip and ancestor != root and ancestor > 1:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)


class Group:
    """The api replicas of a run, measured as one."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = replicas

    def rss_bytes(self) -> int:
        return sum(r.rss_bytes() for r in self.replicas)

    def cpu_seconds(self) -> float:
        """CPU seconds of all of them: a share of one core per replica, summed."""
        return sum(r.cpu_seconds() for r in self.replicas)


class Clients:
    """The SSE client processes (PER_PROCESS streams each) and what they report; through a
    load balancer each process's streams come from loopback addresses of its own."""

    def __init__(
        self,
        host: str,
        port: int,
        paths: list[tuple[int, str]],
        seconds: float,
        spread: bool,
        cpus: set[int] | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._out = context.Queue()
        self._early: list[tuple[str, Any]] = []
        #: CPU seconds the client processes spent while their streams were open
        self.cpu_seconds = 0.0
        chunks = math.ceil(len(paths) / PER_PROCESS)
        self._processes = []
        for i in range(chunks):
            mine = paths[i::chunks]
            sources = None
            if spread:
                count = math.ceil(len(mine) / PER_SOURCE)
                sources = [f"127.{100 + i}.{k // 250}.{k % 250 + 1}" for k in range(count)]
            self._processes.append(
                context.Process(
                    target=stream_clients,
                    args=(host, port, token(), mine, seconds, self._out, sources, cpus),
                )
            )
        for process in self._processes:
            process.start()
        self.pids = frozenset(p.pid for p in self._processes if p.pid is not None)

    async def opened(self) -> tuple[int, int]:
        """Once every stream has its snapshot: (streams open, streams that failed)."""
        opened = failed = 0
        for _ in self._processes:
            ok, bad = await self._receive("open")
            opened, failed = opened + ok, failed + bad
        return opened, failed

    async def arrivals(self) -> list[Arrival]:
        """Once every stream has ended: every live event's arrival."""
        arrivals: list[Arrival] = []
        for _ in self._processes:
            self.cpu_seconds += await self._receive("cpu")
            arrivals += await self._receive("done")
        for process in self._processes:
            process.join()
        return arrivals

    async def _receive(self, kind: str, timeout: float = 300) -> Any:
        """The next message of `kind` from any process (a process may be done before
        another has opened all its streams: its message waits here)."""
        for i, (message_kind, value) in enumerate(self._early):
            if message_kind == kind:
                del self._early[i]
                return value
        loop = asyncio.get_running_loop()
        while True:
            message_kind, value = await loop.run_in_executor(None, self._out.get, True, timeout)
            if message_kind == kind:
                return value
            self._early.append((message_kind, value))


async def _connections(cluster: Cluster) -> dict[str, int]:
    rows = await cluster.db().fetch(QUERIES["connections"], "postgres")
    return {row["application_name"]: row["n"] for row in rows}


async def _sample_connections(cluster: Cluster, peak: dict[str, int], stop: asyncio.Event) -> None:
    """Keep the highest count of each kind of the api replica's connections in `peak`."""
    while not stop.is_set():
        for name, count in (await _connections(cluster)).items():
            peak[name] = max(peak.get(name, 0), count)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def _latencies(
    cluster: Cluster,
    job_ids: list[Any],
    arrivals: list[Arrival],
    opened: int,
    phases: dict[str, list[float]] | None = None,
) -> tuple[list[float], list[float], int]:
    """Arrival minus commit for every live event; the same for the steady part of the run;
    and how many events some client never got. Into `phases`, when given, the latencies by
    the event's place in its job (`running`: the claim's burst, every job's at once;
    `first_step`; `end`: the terminal event; `middle`: the rest): which part makes the p99.

    Steady: events written from STEADY_AFTER seconds after the first job started until the
    first job ended. It leaves out the bursts of this workload's synchronised start (every
    job claimed in one statement, their first steps within 0.3 s) and end.
    """
    rows = await cluster.db().fetch(QUERIES["event_times"], job_ids)
    index = {job_id: i for i, job_id in enumerate(job_ids)}
    created = {(index[row["job_id"]], row["seq"]): row["created"] for row in rows}
    last_seq: dict[int, int] = {}
    for job, seq in created:
        last_seq[job] = max(last_seq.get(job, 0), seq)
    started = min(at for (_, seq), at in created.items() if seq == 2)
    first_end = min(created[(job, seq)] for job, seq in last_seq.items())
    live_events = len(rows) - len(job_ids)  # all but each job's first (the snapshot)
    expected = live_events * opened // len(job_ids)
    every, steady = [], []
    if phases is not None:
        phases.update(running=[], first_step=[], middle=[], end=[])
    for job, seq, at in arrivals:
        written = created[(job, seq)]
        every.append(at - written)
        if started + STEADY_AFTER <= written < first_end:
            steady.append(at - written)
        if phases is not None:
            phase = {2: "running", 3: "first_step", last_seq[job]: "end"}.get(seq, "middle")
            phases[phase].append(at - written)
    return every, steady, expected - len(arrivals)


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for case, data in result["cases"].items():
        m = data["median"]
        out.append([
            "event fan-out", case,
            f"commit -> client: p50 {fmt(m['p50_ms'])} / p99 {fmt(m['p99_ms'])} / max"
            f" {fmt(m['max_ms'])} ms (steady: p50 {fmt(m.get('steady_p50_ms'))} / p99"
            f" {fmt(m.get('steady_p99_ms'))} ms); {fmt(m['kib_per_stream'])} KiB/stream;"
            f" db conns {m['pool_connections_max']:g} pool + {m['listener_connections_max']:g}"
            f" listener (pool size {m['pool_size']:g}); missing {m['events_missing']:g};"
            f" api CPU {pct(m.get('api_cpu'))}"
            + (f", nginx CPU {pct(m['nginx_cpu'])}" if "nginx_cpu" in m else ""),
            TARGETS.get(case, ""),
        ])  # fmt: skip
    return out
