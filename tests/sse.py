"""A small, strict SSE reader for tests: what actually went over the wire.

`service.client.sse_parser` reads streams as EventSource does (ids carried forward,
comments dropped); the tests need the raw wire instead: each event's own
`id:` line (or its absence) and the `: ping` comments.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


@dataclasses.dataclass(frozen=True)
class SseEvent:
    id: int | None
    event: str
    data: dict[str, Any]


async def read_events(
    response: aiohttp.ClientResponse, comments: list[str] | None = None
) -> AsyncIterator[SseEvent]:
    """Yield each event until the server ends the stream; comment lines go to `comments`."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                event_id = fields.get("id")
                yield SseEvent(
                    id=int(event_id) if event_id is not None else None,
                    event=fields.get("event", "message"),
                    data=json.loads("\n".join(data)),
                )
            fields, data = {}, []
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


async def collect(response: aiohttp.ClientResponse) -> list[SseEvent]:
    return [event async for event in read_events(response)]
