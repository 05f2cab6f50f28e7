"""The `content-jobs` command: serve, migrate, token, dev, prune."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from service.settings import ROLES, Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"content-jobs: {exc}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="content-jobs", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API and/or run jobs")
    serve.add_argument("--host", help="interface to listen on (HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (PORT, default 8080)")
    serve.add_argument("--role", choices=ROLES, help="api, worker or all (ROLE, default all)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    serve.set_defaults(func=_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations")
    migrate.set_defaults(func=_migrate)

    prune = commands.add_parser(
        "prune", help="delete terminal jobs older than a duration, with their events and assets"
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

    token = commands.add_parser("token", help="print a signed access token")
    token.add_argument("--company", action="append", required=True, help="company id, or *")
    token.add_argument("--ttl", type=float, help="seconds until it expires (default: never)")
    token.add_argument("--sub", default="content-jobs-cli", help="caller name")
    token.add_argument("--viewer", action="store_true", help="read-only token")
    token.set_defaults(func=_token)

    dev = commands.add_parser("dev", help="local Postgres in ./.pgdata, migrate, serve")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--data-dir", type=Path, default=Path(".pgdata"))
    dev.set_defaults(func=_dev)
    return parser


def _serve(args: argparse.Namespace) -> int:
    overrides = {
        name: value
        for name, value in (("host", args.host), ("port", args.port), ("role", args.role))
        if value is not None
    }
    settings = Settings.from_env(**overrides)
    return _run(settings, migrate=not args.no_migrate)


def _run(settings: Settings, *, migrate: bool) -> int:
    from service import logging, migrations, server

    logging.configure(settings.log_format, settings.log_level)
    if migrate:
        migrations.apply(settings.database_url)
    server.run(settings)
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from service import logging, migrations

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

    from service import logging, prune

    settings = Settings.from_env()
    logging.configure(settings.log_format, settings.log_level)
    result = asyncio.run(prune.run(settings, args.older_than, args.batch_size))
    print(
        f"pruned {result.jobs} job(s) and {result.assets} asset(s) "
        f"finished before {result.cutoff.isoformat()}"
    )
    return 0


def _duration(raw: str) -> timedelta:
    from service.prune import parse_duration

    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _batch_size(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 10000:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number from 1 to 10000")
    return int(raw)


def _token(args: argparse.Namespace) -> int:
    from service.auth import issue_token

    secret = os.environ.get("AUTH_JWT_SECRET", "").strip()
    if not secret:
        raise SettingsError("AUTH_JWT_SECRET is required but not set")
    print(issue_token(secret, args.company, sub=args.sub, ttl=args.ttl, viewer=args.viewer))
    return 0


def _dev(args: argparse.Namespace) -> int:
    """Everything local: a Postgres of its own unless DATABASE_URL is set, and a token."""
    from service.auth import issue_token
    from service.pgserver import LocalPostgres

    server = None
    env = dict(os.environ)
    if not env.get("DATABASE_URL"):
        server = LocalPostgres(args.data_dir / "db", port=_dev_db_port(args.data_dir))
        env["DATABASE_URL"] = server.start()
    secret_file = args.data_dir / "dev-secret"
    if not env.get("AUTH_JWT_SECRET"):
        args.data_dir.mkdir(parents=True, exist_ok=True)
        if not secret_file.exists():
            secret_file.write_text(secrets.token_urlsafe(32))
        env["AUTH_JWT_SECRET"] = secret_file.read_text().strip()
    env.setdefault("LOG_FORMAT", "console")
    settings = Settings.from_env(env, port=args.port)
    token = issue_token(settings.auth_jwt_secret, ["*"], sub="dev")
    url = f"http://127.0.0.1:{settings.port}"
    print(
        f"\ncontent-jobs dev server\n  open:  {url}/?access_token={token}\n"
        f"  token: {token}\n  export CONTENT_JOBS_URL={url} CONTENT_JOBS_TOKEN={token}\n",
        flush=True,
    )
    try:
        return _run(settings, migrate=True)
    finally:
        if server is not None:
            server.stop()


def _dev_db_port(data_dir: Path) -> int:
    """The dev database keeps one port across runs, so DATABASE_URLs people copied still work."""
    from service.pgserver import free_port

    port_file = data_dir / "dev-port"
    if port_file.exists():
        return int(port_file.read_text())
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    port_file.write_text(str(port))
    return port
