"""`python -m bench.profile FILE [N]`: the top functions of a py-spy raw (collapsed) profile.

Self time says where the CPU went; inclusive time says which call paths
to shorten. Both are shares of all samples.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path


def top(path: Path, count: int = 30) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack:
            continue
        n = int(samples)
        total += n
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "self:"]
    lines += [f"{n / total:6.1%}  {f}" for f, n in own.most_common(count)]
    lines += ["", "inclusive:"]
    lines += [f"{n / total:6.1%}  {f}" for f, n in inclusive.most_common(count)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `func (module.py)`: lines split one function apart."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0].rsplit("/", 1)[-1]
    return f"{name} ({file})"


if __name__ == "__main__":
    print(top(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30))
