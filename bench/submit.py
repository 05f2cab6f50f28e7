"""Submit: POST echo jobs to one api replica (no runner, default log settings: one JSON line
per request), beside pgbench on the same server at the same client counts.

The limit is pgbench's single-row INSERT into a plain table with a primary key and no
trigger: the cost of one durable commit per job. Beside it, the INSERT into `content_jobs`
itself (its event trigger and indexes included), the same job and event rows written by
one statement (a CTE) instead of the trigger, and the trigger's INSERT with a NOTIFY in the
transaction. Our requests/s is reported as a fraction of the plain INSERT's. `wrk` (a
standard tool anyone can rerun) measures the same route beside our own load generator.

The peer is `bench/naive.py`: a hand-written aiohttp handler doing one asyncpg INSERT per
request into a plain table, loaded by both generators in the same run; "ours / naive" is
our requests/s over its. Last, `backlog`: a fresh api replica with `COMPANY_MAX_QUEUED`
at 1,000,000, one company with `submit_backlog` queued jobs (growing as it is loaded) and
another with none, loaded in turn: the submit must cost the same for both.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
from typing import Any

from bench import loadgen
from bench.cluster import COMPANY, ROOT, SECRET, Cluster, CpuMeter, Replica, token
from bench.options import PROFILES, Options, in_process
from bench.stats import fmt, latency_ms, median_runs, pct
from service.api.auth import issue_token
from service.api.batch import MAX_CONCURRENT_BATCHES
from service.dev.pgserver import free_port

INSERT = (
    "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)\n"
    "VALUES (gen_random_uuid(), 'bench', 'echo', '{\"n\": 1}', 3);\n"
)
PLAIN = "INSERT INTO bench_plain (id, body) VALUES (gen_random_uuid(), '{\"n\": 1}');\n"
#: the trigger's alternative: the job row and its event row in one statement, into a copy of
#: content_jobs without triggers (same columns, indexes and checks) and the real events table
CTE = (
    "WITH job AS (INSERT INTO bench_cte_jobs (id, company_id, job_type, input, max_attempts)\n"
    "VALUES (gen_random_uuid(), 'bench', 'echo', '{\"n\": 1}', 3) RETURNING *)\n"
    "INSERT INTO content_job_events (job_id, seq, event_type, data)\n"
    "SELECT id, event_seq, 'status', content_job_event_data(id, status, progress_percent,\n"
    "    progress_message, result_asset_id, error_message) FROM job;\n"
)
SCRIPTS = {
    "insert": PLAIN,
    "jobs_insert": INSERT,
    "cte_insert": CTE,
    "insert_notify": "BEGIN;\n" + INSERT + "SELECT pg_notify('bench_pgbench', 'x');\nCOMMIT;\n",
}
WRK_SCRIPT = """wrk.method = "POST"
wrk.body = '{"jobType": "echo", "input": {"n": 1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""
_WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_WRK_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)", re.MULTILINE)
_TPS = re.compile(r"^tps = ([\d.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)
#: the company without a backlog in the backlog case
EMPTY_COMPANY = "bench-empty"
QUEUED = "SELECT count(*) FROM content_jobs WHERE company_id = $1 AND status = 'queued'"


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    # no runner drains the queue here: lift COMPANY_MAX_QUEUED, or most submits are 429s
    api = await cluster.replica(
        "api", pool_size=options.pool_size, LOG_LEVEL="info", COMPANY_MAX_QUEUED="1000000000"
    )
    await cluster.db().execute(
        "CREATE TABLE IF NOT EXISTS bench_plain (id uuid PRIMARY KEY, body jsonb NOT NULL);"
        "CREATE TABLE IF NOT EXISTS bench_cte_jobs (LIKE content_jobs INCLUDING ALL);"
    )
    scripts = {}
    for name, text in SCRIPTS.items():
        path = cluster.log_dir / f"pgbench-{name}.sql"
        path.write_text(text)
        scripts[name] = str(path)
    cases: dict[str, Any] = {}
    bare_port, naive_port = free_port(), free_port()
    bare_server = _start_bare(bare_port)
    naive_server = _start_naive(naive_port, cluster.dsn, options.pool_size)
    try:
        await _accepting("127.0.0.1", bare_port)
        await _accepting("127.0.0.1", naive_port)
        await _cases(cluster, api, options, scripts, bare_port, naive_server.pid, naive_port, cases)
    finally:
        for server in (bare_server, naive_server):
            server.terminate()
            server.wait()
    cases["batch"] = await _batches(cluster, api, options)
    api.stop()
    cases["backlog"] = await _backlog(cluster, options)
    return {"cases": cases}


def _start_bare(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.bare", str(port)], cwd=ROOT)


def _start_naive(port: int, dsn: str, pool_size: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.naive", str(port), dsn, str(pool_size)]
    return subprocess.Popen(command, cwd=ROOT)


async def _accepting(host: str, port: int, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                _reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


async def _cases(
    cluster: Cluster,
    api: Replica,
    options: Options,
    scripts: dict[str, str],
    bare_port: int,
    naive_pid: int,
    naive_port: int,
    cases: dict[str, Any],
) -> None:
    for clients in options.submit_concurrency:
        runs: list[dict[str, Any]] = []
        for _ in range(options.runs):
            await cluster.reset()
            if options.profile:
                PROFILES.mkdir(parents=True, exist_ok=True)
                out = PROFILES / f"submit-c{clients}-api.txt"
                api.profile(options.submit_warmup + options.submit_seconds, out)
            cpu_before, began = api.cpu_seconds(), time.monotonic()
            done = await in_process(
                loadgen.submit_load, api.host, api.port, token(), COMPANY, clients,
                options.submit_seconds, options.submit_warmup,
            )  # fmt: skip
            cpu = (api.cpu_seconds() - cpu_before) / (time.monotonic() - began)
            figures: dict[str, Any] = {
                "requests_per_s": round(len(done["latencies"]) / done["seconds"], 1),
                "api_cpu": round(cpu, 2),
                **latency_ms(done["latencies"]),
                "errors": done["errors"],
            }
            for name, script in scripts.items():
                await cluster.reset()
                await cluster.db().execute("TRUNCATE bench_plain, bench_cte_jobs")
                tps, avg = pgbench(cluster, script, clients, options.submit_seconds)
                figures[f"{name}_tps"] = tps
                figures[f"{name}_avg_ms"] = avg
            bare = await in_process(
                loadgen.submit_load, "127.0.0.1", bare_port, token(), COMPANY, clients,
                options.submit_seconds, options.submit_warmup,
            )  # fmt: skip
            figures["bare_rps"] = round(len(bare["latencies"]) / bare["seconds"], 1)
            await cluster.reset()
            await cluster.db().execute("TRUNCATE bench_naive")
            naive = await in_process(
                loadgen.submit_load, "127.0.0.1", naive_port, token(), COMPANY, clients,
                options.submit_seconds, options.submit_warmup,
            )  # fmt: skip
            figures["naive_rps"] = round(len(naive["latencies"]) / naive["seconds"], 1)
            figures["naive_p99_ms"] = latency_ms(naive["latencies"])["p99_ms"]
            figures["naive_errors"] = naive["errors"]
            if shutil.which("wrk"):  # ours and the naive handler back to back
                await cluster.reset()
                figures.update(
                    _wrk_with_cpu(cluster, api.pid, api.host, api.port, clients, options, "wrk")
                )
                await cluster.db().execute("TRUNCATE bench_naive")
                figures.update(
                    _wrk_with_cpu(
                        cluster, naive_pid, "127.0.0.1", naive_port, clients, options, "naive_wrk"
                    )
                )
            runs.append(figures)
        median = median_runs(runs)
        median["fraction_of_insert"] = round(median["requests_per_s"] / median["insert_tps"], 3)
        median["fraction_of_bare"] = round(median["requests_per_s"] / median["bare_rps"], 3)
        median["over_naive"] = round(median["requests_per_s"] / median["naive_rps"], 3)
        if "naive_wrk_rps" in median:
            median["wrk_over_naive"] = round(median["wrk_rps"] / median["naive_wrk_rps"], 3)
        cases[f"c={clients}"] = {"median": median, "runs": runs}


async def _backlog(cluster: Cluster, options: Options) -> dict[str, Any]:
    """A company with `submit_backlog` queued jobs and one with none, on one api replica
    with the quota at 1,000,000, loaded in turn at the largest client count (`wrk` when it
    is installed, our generator otherwise): the submit costs the same for both."""
    api = await cluster.replica(
        "api", pool_size=options.pool_size, LOG_LEVEL="info", COMPANY_MAX_QUEUED="1000000"
    )
    clients = max(options.submit_concurrency)
    both = issue_token(SECRET, [COMPANY, EMPTY_COMPANY], sub="bench")
    await cluster.reset()
    for start in range(0, options.submit_backlog, 100_000):  # in the backlog company
        await cluster.insert_jobs(min(100_000, options.submit_backlog - start), "echo", [{}])
    runs: list[dict[str, Any]] = []
    try:
        for n in range(options.runs):
            figures: dict[str, Any] = {
                "backlog_queued": await cluster.db().fetchval(QUEUED, COMPANY)
            }
            # alternate which goes first: neither always gets the quieter moment
            order = [COMPANY, EMPTY_COMPANY] if n % 2 == 0 else [EMPTY_COMPANY, COMPANY]
            for company in order:
                name = "backlog" if company == COMPANY else "empty"
                if shutil.which("wrk"):
                    rps, p99 = wrk(
                        cluster, api.host, api.port, clients, options.submit_seconds,
                        company=company, bearer=both,
                    )  # fmt: skip
                else:
                    done = await in_process(
                        loadgen.submit_load, api.host, api.port, both, company, clients,
                        options.submit_seconds, options.submit_warmup,
                    )  # fmt: skip
                    rps = round(len(done["latencies"]) / done["seconds"], 1)
                    p99 = latency_ms(done["latencies"])["p99_ms"]
                figures[f"{name}_rps"], figures[f"{name}_p99_ms"] = rps, p99
            runs.append(figures)
    finally:
        api.stop()
    median = median_runs(runs)
    median["backlog_over_empty_rps"] = round(median["backlog_rps"] / median["empty_rps"], 3)
    tool = "wrk" if shutil.which("wrk") else "loadgen"
    return {"median": median, "runs": runs, "clients": clients, "tool": tool}


async def _batches(cluster: Cluster, api: Replica, options: Options) -> dict[str, Any]:
    """`POST .../content-jobs:batch` of batch_size jobs from batch_concurrency clients, at most
    as many as a replica checks at once (one more is a `503` to retry elsewhere)."""
    clients = min(options.batch_concurrency, MAX_CONCURRENT_BATCHES)
    runs = []
    for _ in range(options.runs):
        await cluster.reset()
        cpu_before, began = api.cpu_seconds(), time.monotonic()
        done = await in_process(
            loadgen.batch_load, api.host, api.port, token(), COMPANY, clients,
            options.batch_size, options.submit_seconds, options.submit_warmup,
        )  # fmt: skip
        if done["errors"]:
            raise RuntimeError(f"{done['errors']} batches were refused: not a figure")
        batches = len(done["latencies"]) / done["seconds"]
        runs.append({
            "batches_per_s": round(batches, 1),
            "jobs_per_s": round(batches * options.batch_size, 1),
            "api_cpu": round((api.cpu_seconds() - cpu_before) / (time.monotonic() - began), 2),
            **latency_ms(done["latencies"]),
        })  # fmt: skip
    return {"median": median_runs(runs), "runs": runs, "size": options.batch_size,
            "clients": clients}  # fmt: skip


def _wrk_with_cpu(
    cluster: Cluster, pid: int, host: str, port: int, clients: int, options: Options, name: str
) -> dict[str, float]:
    """wrk's figures for one server, and the CPU per request of that server's process and of
    Postgres over the run: where a request's time goes, ours and the naive handler's alike."""
    cpu = CpuMeter(cluster, [pid])
    rps, p99 = wrk(cluster, host, port, clients, options.submit_seconds)
    server, postgres = cpu.per(rps * max(1, round(options.submit_seconds)))  # as wrk ran
    return {
        f"{name}_rps": rps,
        f"{name}_p99_ms": p99,
        f"{name}_server_us": server,
        f"{name}_postgres_us": postgres,
    }


def wrk(
    cluster: Cluster,
    host: str,
    port: int,
    clients: int,
    seconds: float,
    *,
    company: str = COMPANY,
    bearer: str | None = None,
) -> tuple[float, float]:
    """(requests/s, p99 ms) of `wrk -t2 -c<clients>` POSTing echo jobs."""
    script = cluster.log_dir / "wrk-submit.lua"
    script.write_text(WRK_SCRIPT % (bearer or token()))
    url = f"http://{host}:{port}/api/companies/{company}/content-jobs"
    command = [
        "wrk", "-t", str(min(2, clients)), "-c", str(clients), "-d", f"{max(1, round(seconds))}s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    rps, p99 = _WRK_RPS.search(done.stdout), _WRK_P99.search(done.stdout)
    if rps is None or p99 is None or "Non-2xx" in done.stdout:
        raise RuntimeError(f"wrk printed no figures, or errors: {done.stdout}\n{done.stderr}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    return float(rps.group(1)), round(float(p99.group(1)) * scale, 2)


def pgbench(cluster: Cluster, script: str, clients: int, seconds: float) -> tuple[float, float]:
    """(transactions/s, average latency ms) of a pgbench custom script over TCP, as we connect."""
    command = [
        "pgbench", "-n", "-M", "prepared", "-f", script,
        "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(max(1, round(seconds))),
        "-h", "127.0.0.1", "-p", str(cluster.pg.port), "-U", "postgres", "postgres",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    tps = _TPS.search(done.stdout)
    latency = _LATENCY.search(done.stdout)
    if tps is None or latency is None:
        raise RuntimeError(f"pgbench printed no tps: {done.stdout}\n{done.stderr}")
    return float(tps.group(1)), float(latency.group(1))


def rows(result: dict[str, Any]) -> list[list[str]]:
    out = []
    for case, data in result["cases"].items():
        m = data["median"]
        if case == "backlog":
            out.append([
                "submit", f"backlog of {fmt(m['backlog_queued'])}+ jobs, c={data['clients']:g}",
                f"{data['tool']}: backlog company {fmt(m['backlog_rps'])} req/s, p99"
                f" {fmt(m['backlog_p99_ms'])} ms; empty company {fmt(m['empty_rps'])} req/s,"
                f" p99 {fmt(m['empty_p99_ms'])} ms (backlog / empty ="
                f" {fmt(m['backlog_over_empty_rps'])}x)",
                "flat: the same for both",
            ])  # fmt: skip
            continue
        if case == "batch":
            out.append([
                "submit", f"batches of {data['size']:g}, c={data['clients']:g}",
                f"{fmt(m['jobs_per_s'])} jobs/s ({fmt(m['batches_per_s'])} batches/s);"
                f" per batch p50 {fmt(m['p50_ms'])} / p99 {fmt(m['p99_ms'])} ms;"
                f" api CPU {pct(m.get('api_cpu'))}",
                ">= 10,000 jobs/s",
            ])  # fmt: skip
            continue
        out.append([
            "submit", case,
            f"{fmt(m['requests_per_s'])} req/s; p50 {fmt(m['p50_ms'])} / p99 {fmt(m['p99_ms'])}"
            f" / max {fmt(m['max_ms'])} ms; plain INSERT {fmt(m['insert_tps'])} tps,"
            f" content_jobs INSERT {fmt(m.get('jobs_insert_tps'))} tps (trigger) /"
            f" {fmt(m.get('cte_insert_tps'))} tps (CTE),"
            f" +NOTIFY {fmt(m['insert_notify_tps'])} tps;"
            f" ours = {pct(m['fraction_of_insert'])} of plain INSERT;"
            f" api CPU {pct(m.get('api_cpu'))}"
            + (f"; bare aiohttp handler {fmt(m['bare_rps'])} req/s (ours ="
               f" {pct(m.get('fraction_of_bare'))})" if "bare_rps" in m else "")
            + (f"; naive handler {fmt(m['naive_rps'])} req/s, p99 {fmt(m['naive_p99_ms'])} ms"
               f" (ours = {fmt(m['over_naive'])}x)" if "naive_rps" in m else "")
            + (f"; wrk {fmt(m['wrk_rps'])} req/s, p99 {fmt(m['wrk_p99_ms'])} ms"
               if "wrk_rps" in m else "")
            + (f" (CPU per request: api {fmt(m['wrk_server_us'])} us, Postgres"
               f" {fmt(m['wrk_postgres_us'])} us)" if "wrk_server_us" in m else "")
            + (f"; wrk on the naive handler {fmt(m['naive_wrk_rps'])} req/s, p99"
               f" {fmt(m['naive_wrk_p99_ms'])} ms (ours = {fmt(m['wrk_over_naive'])}x)"
               if "naive_wrk_rps" in m else "")
            + (f" (CPU per request: its process {fmt(m['naive_wrk_server_us'])} us, Postgres"
               f" {fmt(m['naive_wrk_postgres_us'])} us)" if "naive_wrk_server_us" in m else ""),
            "c=64: >= 50% of plain INSERT, p99 < 50 ms, >= 1.5x naive" if case == "c=64" else "",
        ])  # fmt: skip
    return out
