"""The routes of a company's callback signing secret: its editors read and rotate it (it lets
its holder forge the company's deliveries, so viewers may not read it)."""

from __future__ import annotations

from aiohttp import web

from service.api import keys
from service.api.errors import ApiError
from service.api.middlewares import company_of
from service.api.responses import json_response
from service.webhooks.secrets import WebhookSecrets

SECRET_PATH = "/api/companies/{companyId}/webhook-secret"


def setup(app: web.Application) -> None:
    app.router.add_get(SECRET_PATH, get_secret)
    app.router.add_post(SECRET_PATH + ":rotate", rotate_secret)


async def get_secret(request: web.Request) -> web.Response:
    """The company's secret, made now if it has none yet."""
    company_id = _editor_company(request)
    return json_response((await _secrets(request).current(company_id)).to_json())


async def rotate_secret(request: web.Request) -> web.Response:
    """A new secret; deliveries carry signatures by both for 24 h."""
    company_id = _editor_company(request)
    return json_response((await _secrets(request).rotate(company_id)).to_json())


def _editor_company(request: web.Request) -> str:
    company_id = company_of(request)
    if request[keys.CALLER].viewer:
        raise ApiError(403, "the webhook secret is for the company's editors only")
    return company_id


def _secrets(request: web.Request) -> WebhookSecrets:
    if keys.WEBHOOK_SECRETS not in request.app:
        raise ApiError(404, "completion callbacks are off (WEBHOOK_SECRET is not set)")
    return request.app[keys.WEBHOOK_SECRETS]
