"""`python -m bench.report [FILE]`: a results file as the Markdown of BENCHMARKS.md.

Prints the table, the command, the dates and the machine, so the figures in
BENCHMARKS.md are pasted from a real run rather than typed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bench.cli import RESULTS, summary
from bench.stats import table


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    settings = ", ".join(f"`{k}={v}`" for k, v in machine["postgres_settings"].items())
    dates = {name: w.get("date", "?") for name, w in results["workloads"].items()}
    lines = [
        table(summary(results["workloads"])),
        "",
        f"- Command: `{results['command']}` (figures: medians of {results['options']['runs']}"
        " runs each)",
        f"- Date: {results['date']} (per workload: "
        + ", ".join(f"{name} {date}" for name, date in dates.items())
        + ")",
        f"- Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB,"
        f" Linux {machine['kernel']}, Python {machine['python']}; load generators, replicas and"
        " Postgres all on this machine",
        f"- Postgres {machine['postgres']}: {settings}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    print(markdown(json.loads(path.read_text())))
