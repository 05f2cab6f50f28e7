"""Deploy: `deploy/nginx.conf` lets through every body the API accepts — a single submit's
1 MiB and, on the batch route, a batch's 16 MiB — read from the service's own constants, so
the two cannot drift apart again (nginx once refused every batch past 2 MiB)."""

from __future__ import annotations

import re
from pathlib import Path

from service.api.batch import MAX_BATCH_BODY_BYTES
from service.api.routes import JOBS_PATH
from service.domain.limits import MAX_BODY_BYTES

CONF = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text()
UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


def size(directive_owner: str) -> int:
    match = re.search(r"client_max_body_size (\d+)([kmg]?);", directive_owner, re.IGNORECASE)
    assert match, directive_owner
    return int(match.group(1)) * UNITS[match.group(2).lower()]


def test_a_single_submit_and_a_batch_fit() -> None:
    server = CONF[CONF.index("server {") :]
    assert size(server.split("location", 1)[0]) > MAX_BODY_BYTES
    batch_path = JOBS_PATH.replace("{companyId}", "acme") + ":batch"
    locations = re.findall(r"location ~ (\S+) \{(.*?)\n        \}", server, re.DOTALL)
    batch = [body for pattern, body in locations if re.fullmatch(pattern, batch_path)]
    assert len(batch) == 1, locations
    assert size(batch[0]) > MAX_BATCH_BODY_BYTES
    assert "proxy_request_buffering off;" in batch[0]  # no temporary file of 16 MiB
