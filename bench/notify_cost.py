"""`python -m bench.notify_cost`: what a NOTIFY in the committing transaction costs, and what
idle listeners add to it (BENCHMARKS.md, "Capacity").

pgbench (`-M prepared`, `--clients` connections, `--seconds` each) on a Postgres of the
benchmark's own with the durable defaults, single-row INSERTs, each its own transaction:
- into a plain table (primary key, no trigger), and the same with `pg_notify` in the
  transaction;
- into `content_jobs` (its event trigger and indexes), and the same with `pg_notify`;
- `pg_notify` alone in its transaction (what the service's notifier sends, after the writes
  committed);
- the plain INSERT with `pg_notify`, and `pg_notify` alone, again while `--listeners`
  connections sit in LISTEN on another channel, as the listener of a replica whose streams
  follow other jobs does.
Postgres takes a lock for the whole commit of a notifying transaction (so that notifications
are queued in commit order), so those commits cannot share a WAL flush: each waits for its
own. The cases run in turn, in a different order each round (`--rounds`), on a machine that
may be shared: compare within a round.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from bench.cluster import Cluster
from bench.stats import fmt, table
from bench.submit import INSERT, PLAIN, pgbench

NOTIFY = "SELECT pg_notify('bench_pgbench', 'x');\n"
SCRIPTS = {
    "plain INSERT": PLAIN,
    "plain INSERT + NOTIFY": "BEGIN;\n" + PLAIN + NOTIFY + "COMMIT;\n",
    "content_jobs INSERT": INSERT,
    "content_jobs INSERT + NOTIFY": "BEGIN;\n" + INSERT + NOTIFY + "COMMIT;\n",
    # what the service's notifier sends after the writes committed: no write of its own
    "NOTIFY alone": NOTIFY,
}
#: the cases run beside idle listeners
WITH_LISTENERS = ("plain INSERT + NOTIFY", "NOTIFY alone")


async def run(
    clients: int, seconds: float, rounds: int, listeners: Sequence[int]
) -> dict[str, Any]:
    cluster = Cluster()
    try:
        await cluster.start()
        db = cluster.db()
        await db.execute("CREATE TABLE bench_plain (id uuid PRIMARY KEY, body jsonb NOT NULL)")
        paths = {}
        for n, (name, text) in enumerate(SCRIPTS.items()):
            path = cluster.log_dir / f"notify-{n}.sql"
            path.write_text(text)
            paths[name] = str(path)
        cases = [
            *SCRIPTS,
            *(f"{case}, {n} listeners" for case in WITH_LISTENERS for n in listeners),
        ]
        tps: dict[str, list[float]] = {case: [] for case in cases}
        for r in range(rounds):
            shift = r % len(cases)  # each round starts elsewhere: no case always goes first
            for case in cases[shift:] + cases[:shift]:
                await cluster.reset()
                await db.execute("TRUNCATE bench_plain")
                count = int(case.rsplit(", ", 1)[1].split()[0]) if "listeners" in case else 0
                idle = [await _listener(cluster.dsn) for _ in range(count)]
                try:
                    script = paths[case.rsplit(", ", 1)[0] if count else case]
                    tps[case].append(pgbench(cluster, script, clients, seconds)[0])
                finally:
                    for conn in idle:
                        await conn.close()
                print(f"round {r + 1}: {case}: {tps[case][-1]:,.0f} tps", file=sys.stderr)
        machine = await cluster.machine()
    finally:
        await cluster.close()
    median = {case: statistics.median(values) for case, values in tps.items()}
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "clients": clients,
        "seconds": seconds,
        "machine": machine,
        "tps": tps,
        "median": median,
        "notify_over_plain": round(median["plain INSERT + NOTIFY"] / median["plain INSERT"], 3),
        "jobs_notify_over_jobs": round(
            median["content_jobs INSERT + NOTIFY"] / median["content_jobs INSERT"], 3
        ),
        "jobs_notify_over_plain": round(
            median["content_jobs INSERT + NOTIFY"] / median["plain INSERT"], 3
        ),
    }


async def _listener(dsn: str) -> asyncpg.Connection[Any]:
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn)
    await conn.execute("LISTEN bench_elsewhere")
    return conn


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_cost", description=__doc__)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--listeners", type=int, nargs="*", default=[10, 100])
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.clients, args.seconds, args.rounds, args.listeners))
    rows = [["case", f"tps at c={args.clients} (median)", "each round"]]
    for case, values in result["tps"].items():
        rows.append([case, fmt(result["median"][case]), ", ".join(fmt(v) for v in values)])
    print(table(rows))
    print(
        f"+NOTIFY / plain: {result['notify_over_plain']:.2f}x; content_jobs +NOTIFY / content_jobs:"
        f" {result['jobs_notify_over_jobs']:.2f}x; content_jobs +NOTIFY / plain:"
        f" {result['jobs_notify_over_plain']:.2f}x"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
