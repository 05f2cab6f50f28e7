"""The `content-jobs` command: serve, migrate, token, dev, prune; submit, jobs, watch, schedules."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service import __version__
from service.api.auth import DEFAULT_TTL_SECONDS
from service.client.console import EXIT_CODES, EXIT_ERROR
from service.domain.jobs import Status
from service.domain.limits import MAX_ATTEMPTS_RANGE, MAX_PAGE_SIZE, PRIORITY_RANGE
from service.settings import ROLES, Settings, SettingsError

if TYPE_CHECKING:
    from service.client import ContentJobsClient
    from service.dev.pgserver import LocalPostgres

STATUSES = tuple(status.value for status in Status)
DEFAULT_URL = "http://127.0.0.1:8080"
#: `dev` listens on loopback unless asked otherwise: it prints a token for every company
DEV_HOST = "127.0.0.1"
#: the company the printed link opens on
DEV_COMPANY = "acme"
#: the token `dev` prints: long enough for a day of work, and it still expires
DEV_TOKEN_TTL_SECONDS = 24 * 3600
EXIT_STATUS = (
    "exit status: "
    + ", ".join(f"{code} {status}" for status, code in EXIT_CODES.items())
    + f" (how the job ended),\n{EXIT_ERROR} the API or the network failed"
    + " (usage errors exit 2, as argparse does)"
)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"content-jobs: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the server took over the signals (it exits 0)
        print(file=sys.stderr)
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="content-jobs", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API and/or run jobs")
    serve.add_argument("--host", help="interface to listen on (HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (PORT, default 8080)")
    serve.add_argument("--role", choices=ROLES, help="api, worker or all (ROLE, default all)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations (DATABASE_URL)")
    migrate.set_defaults(func=_migrate)

    prune = commands.add_parser(
        "prune",
        help="delete terminal jobs older than a duration, with their events and assets "
        "(DATABASE_URL, and the STORAGE_BACKEND settings when assets are in S3)",
    )
    prune.add_argument(
        "--older-than",
        required=True,
        type=_duration,
        metavar="DURATION",
        help="finished longer ago than this: 30d, 12h, 90m or 45s",
    )
    prune.add_argument("--batch-size", type=_batch_size, default=500, help="jobs per transaction")
    prune.set_defaults(func=_prune)

    token = commands.add_parser("token", help="print an access token signed with AUTH_JWT_SECRET")
    token.add_argument("--company", action="append", required=True, help="company id, or *")
    token.add_argument(
        "--ttl",
        type=float,
        default=DEFAULT_TTL_SECONDS,
        help=f"seconds until it expires (default {DEFAULT_TTL_SECONDS})",
    )
    token.add_argument("--sub", default="content-jobs-cli", help="caller name")
    role = token.add_mutually_exclusive_group()
    role.add_argument("--viewer", action="store_true", help="read-only token")
    role.add_argument(
        "--admin",
        action="store_true",
        help='admin token: with --company "*", it may pause and resume job types',
    )
    token.set_defaults(func=_token)

    dev = commands.add_parser(
        "dev",
        help="local Postgres in ./.pgdata, migrate, serve on 127.0.0.1:8080 (what `make run` runs)",
    )
    dev.add_argument(
        "--host", help=f"interface to listen on (HOST, default {DEV_HOST}: it prints a token)"
    )
    dev.add_argument("--port", type=int, help="port to listen on (PORT, default 8080)")
    dev.add_argument(
        "--data-dir", type=Path, default=Path(".pgdata"), help="its Postgres and secret (.pgdata)"
    )
    dev.set_defaults(func=_dev)
    _client_commands(commands)
    return parser


def _client_commands(commands: Any) -> None:
    """The commands that talk to a running server over its HTTP API."""
    api = _api_options()
    formatter = argparse.RawDescriptionHelpFormatter
    submit = commands.add_parser(
        "submit", parents=[api], help="submit a job", epilog=EXIT_STATUS, formatter_class=formatter
    )
    submit.add_argument("job_type", metavar="TYPE", help="a job type, e.g. sleep")
    submit.add_argument(
        "--input", metavar="JSON", type=_json_object, default={}, help="the input, a JSON object"
    )
    submit.add_argument("--source-task-id", metavar="ID", help="the task this job belongs to")
    low, high = PRIORITY_RANGE
    submit.add_argument("--priority", type=int, help=f"{low}..{high}, higher first (default 0)")
    submit.add_argument("--delay", type=float, metavar="SECONDS", help="start no sooner")
    low, high = MAX_ATTEMPTS_RANGE
    submit.add_argument("--max-attempts", type=int, metavar="N", help=f"{low}..{high} attempts")
    submit.add_argument("--callback-url", metavar="URL", help="POSTed the job when it ends")
    submit.add_argument("--follow", action="store_true", help="show progress until it ends")
    submit.set_defaults(func=_submit)

    jobs = commands.add_parser("jobs", parents=[api], help="list the company's recent jobs")
    jobs.add_argument("--status", choices=STATUSES, help="only jobs with this status")
    jobs.add_argument("--limit", type=_positive_int, default=20, help="at most N (default 20)")
    jobs.set_defaults(func=_jobs)

    retry = commands.add_parser(
        "retry", parents=[api], help="queue a failed or cancelled job again"
    )
    retry.add_argument("job_id", metavar="JOB_ID")
    retry.set_defaults(func=_retry)

    about = (
        "list the job types installed in this Python environment (with JOB_TYPE_MODULES), "
        "not a running server's: ask that one with GET /api/job-types"
    )
    job_types = commands.add_parser("job-types", help=about, description=about)
    job_types.set_defaults(func=_job_types)
    admin = job_types.add_subparsers(dest="action", metavar="{pause,resume}")
    for action, what in (("pause", "its jobs stay queued"), ("resume", "its jobs start again")):
        command = admin.add_parser(
            action,
            parents=[api],
            help=f"{action} a job type on a running server: {what} (an admin token)",
        )
        command.add_argument("name", metavar="NAME", help="the job type")
        command.set_defaults(func=_pause)

    redrive = commands.add_parser(
        "redrive",
        parents=[api],
        help="queue the company's failed or cancelled jobs again (at most 10,000 a call)",
    )
    redrive.add_argument("--status", required=True, choices=("failed", "cancelled"))
    redrive.add_argument("--job-type", metavar="TYPE", help="only jobs of this type")
    redrive.add_argument(
        "--finished-after", metavar="TIME", help="only jobs finished after this ISO-8601 time"
    )
    redrive.set_defaults(func=_redrive)

    watch = commands.add_parser(
        "watch",
        parents=[api],
        help="follow a job live",
        epilog=EXIT_STATUS,
        formatter_class=formatter,
    )
    watch.add_argument("job_id", metavar="JOB_ID")
    watch.set_defaults(func=_watch)

    from service import cli_schedules

    cli_schedules.add_commands(commands, api)


def _api_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    group = options.add_argument_group("server")
    group.add_argument("--url", help=f"the server (CONTENT_JOBS_URL, default {DEFAULT_URL})")
    group.add_argument("--token", metavar="TOKEN", help="an access token (CONTENT_JOBS_TOKEN)")
    group.add_argument("--company", metavar="ID", help="the company id (CONTENT_JOBS_COMPANY)")
    return options


def _json_object(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('must be a JSON object, like {"seconds": 5}')
    return value


def _positive_int(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive integer")
    return int(raw)


def _serve(args: argparse.Namespace) -> int:
    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("role", args.role))
        if value is not None
    }
    settings = Settings.from_env(**overrides)
    return _run(settings, migrate=not args.no_migrate)


def _run(settings: Settings, *, migrate: bool) -> int:
    from service import logging, server
    from service.db import migrations

    logging.configure(settings.log_format, settings.log_level)
    if migrate:
        migrations.apply(settings.database_url)
    server.run(settings)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from service import logging
    from service.db import migrations

    database_url = os.environ.get("DATABASE_URL", "").strip()
    if not database_url:
        raise SettingsError("DATABASE_URL is required but not set")
    logging.configure("json", "info")
    count = migrations.apply(database_url)
    print(f"applied {count} migration(s)")
    return 0


def _prune(args: argparse.Namespace) -> int:
    """Runs where the service runs (same environment), e.g. as a daily CronJob."""
    import asyncio

    from service import logging
    from service.db import prune

    settings = Settings.from_env(auth=False)  # it verifies no token: no AUTH_* needed
    logging.configure(settings.log_format, settings.log_level)
    result = asyncio.run(prune.run(settings, args.older_than, args.batch_size))
    print(
        f"pruned {result.jobs} job(s) and {result.assets} asset(s) "
        f"finished before {result.cutoff.isoformat()}; "
        f"dropped {len(result.partitions)} day partition(s) of events"
    )
    return 0


def _duration(raw: str) -> timedelta:
    from service.db.prune import parse_duration

    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _batch_size(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number from 1 to 10000")
    return int(raw)


def _token(args: argparse.Namespace) -> int:
    from service.api.auth import issue_token

    secret = os.environ.get("AUTH_JWT_SECRET", "").strip()
    if not secret:
        raise SettingsError("AUTH_JWT_SECRET is required but not set")
    token = issue_token(
        secret, args.company, sub=args.sub, ttl=args.ttl, viewer=args.viewer, admin=args.admin
    )
    print(token)
    return 0


def _dev(args: argparse.Namespace) -> int:
    """Everything local: a Postgres of its own unless DATABASE_URL is set, and a token.

    Every setting is checked before anything starts, and what started is stopped on every
    way out (a bad setting, a failed migration, Ctrl-C, SIGTERM, SIGHUP), so no Postgres is
    left running to trip the next `make run`.
    """
    from service.dev.pgserver import LocalPostgres, PostgresError

    env = dict(os.environ)
    env["HOST"] = env.get("HOST", "").strip() or DEV_HOST
    if not env.get("LOG_FORMAT", "").strip():
        env["LOG_FORMAT"] = "console"
    server = None
    if not env.get("DATABASE_URL", "").strip():
        server = LocalPostgres(args.data_dir / "db", port=_dev_db_port(args.data_dir))
        env["DATABASE_URL"] = server.dsn
    if not env.get("AUTH_JWT_SECRET", "").strip():
        env["AUTH_JWT_SECRET"] = _dev_secret(args.data_dir / "dev-secret")
    if env.get("WEBHOOK_ALLOWED_HOSTS", "").strip() and not env.get("WEBHOOK_SECRET", "").strip():
        # one that stays: the companies' callback secrets are stored encrypted with it
        env["WEBHOOK_SECRET"] = _dev_secret(args.data_dir / "webhook-secret")
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = Settings.from_env(env, **overrides)
    _check_port_free(settings.host, settings.port)
    _stop_on_hangup()
    try:
        if server is not None:
            if server.relocated_from is not None:
                print(
                    f"content-jobs dev: the postgres user cannot reach {server.relocated_from}; "
                    f"Postgres keeps its data in {server.data_dir}",
                    flush=True,
                )
            _take_over(server, args.data_dir)
            server.start()
        _print_dev_banner(settings, args.data_dir, own_database=server is not None)
        return _run(settings, migrate=True)
    except PostgresError as exc:
        print(f"content-jobs dev: Postgres did not start: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop()
            (args.data_dir / "dev.pid").unlink(missing_ok=True)


def _dev_secret(secret_file: Path) -> str:
    """A secret of the dev server's, made once and kept, so what it signed stays valid."""
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(32))
    return secret_file.read_text().strip()


def _check_port_free(host: str, port: int) -> None:
    """A taken port is one line, before Postgres starts, not a traceback after it."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise SettingsError(
            f"cannot listen on {host}:{port} ({exc.strerror}): "
            f"choose another port, e.g. PORT={port + 10} make run"
        ) from None


def _stop_on_hangup() -> None:
    """SIGHUP (the terminal closed) and an early SIGTERM end `dev` like Ctrl-C does, through its
    clean-up; once serving, the server's own SIGTERM handler (a graceful stop) takes over."""
    import signal

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGHUP, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _take_over(server: LocalPostgres, data_dir: Path) -> None:
    """Claim the data directory for this `dev`. A Postgres still running on it that was started
    by a `dev` no longer running (killed with -9, say) is stopped; one whose `dev` still runs is
    that one's: say how to stop it instead of fighting over it. A stale postmaster.pid (a
    server that is not running) is `LocalPostgres.start`'s to clear."""
    from service.dev.pgserver import process_alive

    owner_file = data_dir / "dev.pid"
    owner = int(owner_file.read_text()) if owner_file.exists() else None
    running = server.running_pid()
    if running is not None:
        if owner is not None and owner != os.getpid() and process_alive(owner, " dev "):
            raise SettingsError(
                f"another `content-jobs dev` (pid {owner}) is using {data_dir}: stop it "
                f"(Ctrl-C in its terminal, or kill {owner}), or give this one another "
                "--data-dir"
            )
        print(
            f"content-jobs dev: stopping the Postgres (pid {running}) an earlier run left behind",
            flush=True,
        )
        server.stop()
        if server.running_pid() is not None:
            raise SettingsError(
                f"a Postgres (pid {running}) is still running on {server.data_dir}; "
                f"stop it with: {server.stop_command()}"
            )
    owner_file.write_text(str(os.getpid()))


def _print_dev_banner(settings: Settings, data_dir: Path, *, own_database: bool) -> None:
    """Where to open, the token, and the lines to paste into another terminal (also written
    to DATA_DIR/dev.env, so a script can source them)."""
    from service.api.auth import issue_token

    assert settings.auth_jwt_secret is not None  # dev always has one
    token = issue_token(settings.auth_jwt_secret, ["*"], sub="dev", ttl=DEV_TOKEN_TTL_SECONDS)
    url = f"http://{_url_host(settings.host)}:{settings.port}"
    export = (
        f"export CONTENT_JOBS_URL={url} CONTENT_JOBS_TOKEN={token} "
        f"CONTENT_JOBS_COMPANY={DEV_COMPANY}"
    )
    data_dir.mkdir(parents=True, exist_ok=True)
    env_file = data_dir / "dev.env"
    env_file.write_text(export + "\n")
    env_file.chmod(0o600)
    print(
        f"\ncontent-jobs dev server on {url} (Ctrl-C stops it"
        f"{' and its Postgres' if own_database else ''})\n"
        f"  open:  {url}/?access_token={token}#company={DEV_COMPANY}\n"
        f"         (another company: change company={DEV_COMPANY} at the end of the link, "
        "or type it on the page)\n"
        f"  token: {token}\n"
        f"         (every company, valid {DEV_TOKEN_TTL_SECONDS // 3600} h)\n"
        f"  in another terminal (or: . {env_file}):\n"
        f"  {export}\n",
        flush=True,
    )
    if own_database:  # for `content-jobs prune`, `migrate` and a look inside
        print(
            f"  database: DATABASE_URL={settings.database_url}\n"
            f"  psql:     psql {settings.database_url}\n",
            flush=True,
        )


def _url_host(host: str) -> str:
    """The host to put in a URL to this server: loopback for a wildcard address."""
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _dev_db_port(data_dir: Path) -> int:
    """The dev database keeps one port across runs, so DATABASE_URLs people copied still work."""
    from service.dev.pgserver import free_port

    port_file = data_dir / "dev-port"
    if port_file.exists():
        return int(port_file.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    port_file.write_text(str(port))
    return port


def _client(args: argparse.Namespace) -> ContentJobsClient:
    """A client from the flags, else the environment; a missing token or company is an error."""
    from service.client import ContentJobsClient

    url = args.url or os.environ.get("CONTENT_JOBS_URL") or DEFAULT_URL
    token = args.token or os.environ.get("CONTENT_JOBS_TOKEN")
    company = args.company or os.environ.get("CONTENT_JOBS_COMPANY")
    if not token:
        raise SettingsError("no token: pass --token or set CONTENT_JOBS_TOKEN")
    if not company:
        raise SettingsError("no company: pass --company ID or set CONTENT_JOBS_COMPANY")
    return ContentJobsClient(url, token, company)


def _call(client: ContentJobsClient, command: Callable[[ContentJobsClient], Awaitable[int]]) -> int:
    """Run one client command; API and network errors become one line and exit status 3."""
    import asyncio

    import aiohttp

    from service.client import ContentJobsError

    async def run() -> int:
        async with client:
            return await command(client)

    try:
        return asyncio.run(run())
    except (ContentJobsError, aiohttp.ClientError, TimeoutError) as exc:
        print(f"content-jobs: {str(exc) or type(exc).__name__}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _submit(args: argparse.Namespace) -> int:
    async def submit(jobs: ContentJobsClient) -> int:
        submitted = await jobs.submit(
            args.job_type,
            args.input,
            args.source_task_id,
            priority=args.priority,
            delaySeconds=args.delay,
            maxAttempts=args.max_attempts,
            callbackUrl=args.callback_url,
        )
        print(submitted["jobId"], flush=True)
        return await _follow(jobs, submitted["jobId"]) if args.follow else 0

    return _call(_client(args), submit)


def _retry(args: argparse.Namespace) -> int:
    async def retry(jobs: ContentJobsClient) -> int:
        job = await jobs.retry(args.job_id)
        print(f"{job['id']} {job['status']}")
        return 0

    return _call(_client(args), retry)


def _pause(args: argparse.Namespace) -> int:
    """`job-types pause|resume NAME`: the server's answer, the type's paused state."""

    async def pause(jobs: ContentJobsClient) -> int:
        listed = await jobs.set_paused(args.name, args.action == "pause")
        print(f"{listed['name']} {'paused' if listed['paused'] else 'running'}")
        return 0

    # the route names no company; the client wants one for its base URL
    args.company = args.company or os.environ.get("CONTENT_JOBS_COMPANY") or "*"
    return _call(_client(args), pause)


def _redrive(args: argparse.Namespace) -> int:
    async def redrive(jobs: ContentJobsClient) -> int:
        retried = await jobs.redrive(args.status, args.job_type, args.finished_after)
        print(f"{retried} jobs queued again")
        return 0

    return _call(_client(args), redrive)


def _job_types(args: argparse.Namespace) -> int:
    """The types this installation would serve (built-in, entry points, JOB_TYPE_MODULES)."""
    from service import jobtypes
    from service.settings import module_names

    modules = module_names(os.environ.get("JOB_TYPE_MODULES", ""))
    for job_type in jobtypes.load(modules).values():
        flags = " (cpu-bound)" if job_type.cpu_bound else ""
        print(f"{job_type.name}{flags}: {job_type.description}")
    return 0


def _watch(args: argparse.Namespace) -> int:
    async def watch(jobs: ContentJobsClient) -> int:
        return await _follow(jobs, args.job_id)

    return _call(_client(args), watch)


async def _follow(jobs: ContentJobsClient, job_id: str) -> int:
    """Show the job's events until it ends; the exit status tells how it ended."""
    from contextlib import aclosing

    from service.client.console import EventPrinter, exit_code

    printer, status = EventPrinter(sys.stdout), None
    try:
        async with aclosing(jobs.watch(job_id)) as events:
            async for event in events:
                printer.show(event)
                status = event.data.get("status")
    finally:
        printer.close()
    return exit_code(status)


def _jobs(args: argparse.Namespace) -> int:
    async def list_jobs(jobs: ContentJobsClient) -> int:
        from contextlib import aclosing

        from service.client import Job
        from service.client.console import jobs_table

        found: list[Job] = []
        async with aclosing(
            jobs.list(status=args.status, page_size=min(args.limit, MAX_PAGE_SIZE))
        ) as it:
            async for job in it:
                found.append(job)
                if len(found) == args.limit:
                    break
        print(jobs_table(found))
        return 0

    return _call(_client(args), list_jobs)
