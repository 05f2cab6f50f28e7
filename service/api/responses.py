"""JSON responses, encoded by the service's one codec."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.domain.codec import dumps


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(data), status=status, headers=headers, content_type="application/json"
    )


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_response({"error": message}, status, headers)
