"""`GET .../content-jobs:overview`: a company's jobs counted by status and by type.

What the page's overview draws: the counts, and (from two answers a second or more apart)
how many jobs were submitted and finished per second. Read like the list (viewers too), and
cheap by construction: one GROUP BY, kept about a second per company on each replica and
read once however many pages ask at the same time (`service.db.overview.Overviews`).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from service.api import keys
from service.api.middlewares import company_of
from service.api.responses import json_response
from service.db.overview import Overview, Overviews, read_overview

OVERVIEW_PATH = "/api/companies/{companyId}/content-jobs:overview"
#: the replica's overviews (an api component of its own: nothing else reads it)
OVERVIEWS = web.AppKey("overviews", Overviews)


def setup(app: web.Application) -> None:
    app[OVERVIEWS] = Overviews()
    app.router.add_get(OVERVIEW_PATH, job_overview)


async def job_overview(request: web.Request) -> web.Response:
    company_id = company_of(request)
    read = functools.partial(read_overview, request.app[keys.POOL], company_id)
    overview = await request.app[OVERVIEWS].get(company_id, read)
    return json_response(overview_json(overview))


def overview_json(overview: Overview) -> dict[str, Any]:
    """`{"byStatus", "byType", "submitted", "finished", "at"}`: every status in `byStatus`
    (0 when none); in `byType`, each type the company has jobs of, with its non-zero counts."""
    return {
        "byStatus": overview.by_status,
        "byType": overview.by_type,
        "submitted": overview.submitted,
        "finished": overview.finished,
        "at": overview.at,
    }
