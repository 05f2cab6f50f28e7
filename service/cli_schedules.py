"""`content-jobs schedules list|create|pause|resume|delete`: a company's schedules, over the
server's HTTP API like `content-jobs submit` (the same `--url`, `--token`, `--company`)."""

from __future__ import annotations

import argparse
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.client import ContentJobsClient


def add_commands(commands: Any, api: argparse.ArgumentParser) -> None:
    """`schedules` and its subcommands; `api` holds the server options."""
    schedules = commands.add_parser("schedules", help="list, create, pause, resume, delete")
    actions = schedules.add_subparsers(required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[api], help="the company's schedules")
    listing.set_defaults(func=_list)

    create = actions.add_parser("create", parents=[api], help="a new schedule")
    create.add_argument("name", metavar="NAME", help="unique in the company")
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="5 fields, e.g. '30 2 * * *'")
    when.add_argument("--every", type=int, metavar="SECONDS", help="every N seconds (1..86400)")
    create.add_argument("--timezone", metavar="ZONE", help="IANA zone of --cron (default UTC)")
    create.add_argument(
        "--job", metavar="JSON", required=True, help="the submit body, a JSON object"
    )
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.set_defaults(func=_create)

    for name, help_text, func in (
        ("pause", "stop submitting its ticks", _pause),
        ("resume", "submit its ticks again, from now", _resume),
        ("delete", "delete it (its jobs stay)", _delete),
    ):
        action = actions.add_parser(name, parents=[api], help=help_text)
        action.add_argument("schedule", metavar="ID_OR_NAME")
        action.set_defaults(func=func)


def table(schedules: list[dict[str, Any]]) -> str:
    """One line per schedule: id, name, timing, state, next tick."""
    lines = []
    for s in schedules:
        timing = (
            f"cron '{s['cron']}' {s['timezone']}" if s["cron"] else f"every {s['everySeconds']}s"
        )
        state = "paused" if s["paused"] else f"next {s['nextRunAt']}"
        lines.append(f"{s['id']}  {s['name']}  {timing}  {state}")
    return "\n".join(lines) if lines else "no schedules"


def _list(args: argparse.Namespace) -> int:
    async def run(jobs: ContentJobsClient) -> int:
        print(table(await jobs.schedules()))
        return 0

    return _call(args, run)


def _create(args: argparse.Namespace) -> int:
    from service.cli import _json_object

    body: dict[str, Any] = {"name": args.name, "job": _json_object(args.job)}
    body.update({"cron": args.cron} if args.cron else {"everySeconds": args.every})
    if args.timezone:
        body["timezone"] = args.timezone
    if args.paused:
        body["paused"] = True

    async def run(jobs: ContentJobsClient) -> int:
        created = await jobs.create_schedule(body)
        print(created["id"])
        return 0

    return _call(args, run)


def _pause(args: argparse.Namespace) -> int:
    return _set_paused(args, True)


def _resume(args: argparse.Namespace) -> int:
    return _set_paused(args, False)


def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    async def run(jobs: ContentJobsClient) -> int:
        schedule_id = await _schedule_id(jobs, args.schedule)
        print(table([await jobs.update_schedule(schedule_id, paused=paused)]))
        return 0

    return _call(args, run)


def _delete(args: argparse.Namespace) -> int:
    async def run(jobs: ContentJobsClient) -> int:
        await jobs.delete_schedule(await _schedule_id(jobs, args.schedule))
        return 0

    return _call(args, run)


async def _schedule_id(jobs: ContentJobsClient, given: str) -> str:
    """An id as given; a name looked up among the company's schedules."""
    from service.client import ContentJobsError

    try:
        return str(uuid.UUID(given))
    except ValueError:
        pass
    for schedule in await jobs.schedules():
        if schedule["name"] == given:
            return str(schedule["id"])
    raise ContentJobsError(404, f"no schedule named {given!r}")


def _call(args: argparse.Namespace, run: Any) -> int:
    from service.cli import _call, _client

    return _call(_client(args), run)
