"""A hand-written submit: an aiohttp handler doing one asyncpg INSERT per request.

`python -m bench.naive PORT DSN POOL_SIZE` serves `POST /api/companies/{companyId}/content-jobs`:
it parses the JSON body, checks that `jobType` is a string, inserts one row into a plain
table (`bench_naive`: a primary key, no trigger, no other index) in its own transaction
on a pool of POOL_SIZE connections, and answers 202 with the job's id, status and creation
time. No auth, no validation of the input, no idempotency, no events, no NOTIFY, no log
line: what anyone would write first. The submit workload loads it like the api replica,
in the same run, so "ours / naive" says whether the service's machinery (group commit in
particular) earns its keep against one commit per request.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from aiohttp import web

CREATE = """
CREATE TABLE IF NOT EXISTS bench_naive (
    id uuid PRIMARY KEY,
    company_id text NOT NULL,
    job_type text NOT NULL,
    input jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = (
    "INSERT INTO bench_naive (id, company_id, job_type, input) VALUES ($1, $2, $3, $4::jsonb)"
    " RETURNING created_at"
)
POOL: web.AppKey[asyncpg.Pool[Any]] = web.AppKey("pool")


async def submit(request: web.Request) -> web.Response:
    body: Any = await request.json()
    if not isinstance(body, dict) or not isinstance(body.get("jobType"), str):
        return web.json_response({"error": "jobType is required"}, status=400)
    job_id = uuid.uuid4()
    created_at = await request.app[POOL].fetchval(
        INSERT,
        job_id,
        request.match_info["companyId"],
        body["jobType"],
        json.dumps(body.get("input", {})),
    )
    job = {"jobId": str(job_id), "status": "queued", "createdAt": created_at.isoformat()}
    return web.json_response(job, status=202)


def main(port: int, dsn: str, pool_size: int) -> None:
    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[POOL] = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        await app[POOL].execute(CREATE)
        yield
        await app[POOL].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_post("/api/companies/{companyId}/content-jobs", submit)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
