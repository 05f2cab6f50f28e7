"""A bare aiohttp handler on the submit route: what one request costs aiohttp itself.

`python -m bench.bare PORT` serves `POST /api/companies/{companyId}/content-jobs`, reads the
JSON body and answers 202 with a job-shaped JSON body: no auth, no validation, no database,
no log line. The submit workload loads it like the api replica, in the same run, so
"ours / bare" says how much of a request is the service and how much the framework.
"""

from __future__ import annotations

import sys
import uuid

from aiohttp import web


async def submit(request: web.Request) -> web.Response:
    body = await request.json()
    job = {"jobId": str(uuid.uuid4()), "status": "queued", "jobType": body.get("jobType")}
    return web.json_response(job, status=202)


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/api/companies/{companyId}/content-jobs", submit)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
