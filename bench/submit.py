"""Submit: POST echo jobs to one api replica (no runner), beside pgbench's plain INSERT.

pgbench runs two custom scripts on the same server at the same client
counts: the single-row INSERT of a job (the physical limit of one commit
per job), and the same INSERT with a NOTIFY in its transaction (what
notifying inside every commit would cost). Our requests/s is reported as
a fraction of the plain INSERT's transactions/s.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from bench import loadgen
from bench.cluster import COMPANY, Cluster, token
from bench.options import PROFILES, Options, in_process
from bench.stats import fmt, latency_ms, median_runs, pct

INSERT = (
    "INSERT INTO content_jobs (id, company_id, job_type, input, max_attempts)\n"
    "VALUES (gen_random_uuid(), 'bench', 'echo', '{\"n\": 1}', 3);\n"
)
SCRIPTS = {
    "insert": INSERT,
    "insert_notify": "BEGIN;\n" + INSERT + "SELECT pg_notify('bench_pgbench', 'x');\nCOMMIT;\n",
}
_TPS = re.compile(r"^tps = ([\d.]+)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.MULTILINE)


async def run(cluster: Cluster, options: Options) -> dict[str, Any]:
    api = await cluster.replica("api", pool_size=options.pool_size)
    scripts = {}
    for name, text in SCRIPTS.items():
        path = cluster.log_dir / f"pgbench-{name}.sql"
        path.write_text(text)
        scripts[name] = str(path)
    cases: dict[str, Any] = {}
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
                tps, avg = pgbench(cluster, script, clients, options.submit_seconds)
                figures[f"{name}_tps"] = tps
                figures[f"{name}_avg_ms"] = avg
            runs.append(figures)
        median = median_runs(runs)
        median["fraction_of_insert"] = round(median["requests_per_s"] / median["insert_tps"], 3)
        cases[f"c={clients}"] = {"median": median, "runs": runs}
    api.stop()
    return {"cases": cases}


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
        out.append([
            "submit", case,
            f"{fmt(m['requests_per_s'])} req/s; p50 {fmt(m['p50_ms'])} / p99 {fmt(m['p99_ms'])}"
            f" / max {fmt(m['max_ms'])} ms; INSERT {fmt(m['insert_tps'])} tps,"
            f" INSERT+NOTIFY {fmt(m['insert_notify_tps'])} tps;"
            f" ours = {pct(m['fraction_of_insert'])} of INSERT; api CPU {pct(m.get('api_cpu'))}",
            "c=64: >= 40% of INSERT, p99 < 50 ms" if case == "c=64" else "",
        ])  # fmt: skip
    return out
