"""The `gradeflow` command: run the whole platform or any one role, migrate, seed, manage users and cohorts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from gradeflow.settings import Settings, get_settings

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    settings.require("database_url")
    root = Path(__file__).resolve().parent.parent
    config = Config()
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["database_url"] = settings.database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


async def _with_session(settings: Settings, fn):
    from gradeflow.db import make_engine, make_sessionmaker

    settings.require("database_url")
    engine = make_engine(settings.database_url, pool_size=1)  # type: ignore[arg-type]
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await fn(session)
    finally:
        await engine.dispose()


def seed(settings: Settings, demo: bool = True) -> dict[str, str]:
    """Seed the course (once) and, with `demo`, the demo cohort and users; returns new demo tokens."""
    from gradeflow.seed import save_tokens, seed_assignments, seed_demo

    async def run(session):
        created = await seed_assignments(session)
        tokens = await seed_demo(session, settings.home) if demo else {}
        return created, tokens

    created, tokens = asyncio.run(_with_session(settings, run))
    if created:
        print(f"seeded {created} assignments")
    if tokens:
        path = save_tokens(settings.home, tokens)
        print(f"seeded the demo cohort; its tokens are in {path}")
    return tokens


def users_add(settings: Settings, name: str, role: str, cohort: str | None) -> int:
    from gradeflow.accounts import AccountError, add_user

    try:
        user, token = asyncio.run(_with_session(settings, lambda s: add_user(s, name, role, cohort)))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {role} '{name}' (id {user.id}). API token (shown only now, keep it secret):")
    print(token)
    return 0


def cohorts_add(settings: Settings, slug: str, title: str) -> int:
    from gradeflow.accounts import AccountError, add_cohort

    try:
        asyncio.run(_with_session(settings, lambda s: add_cohort(s, slug, title)))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created cohort '{slug}'")
    return 0


def run_api(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    settings.require("database_url", "redis_url")
    uvicorn.run("api.main:app", host=host or settings.api_host, port=port or settings.api_port, log_level="info",
                proxy_headers=True)


def run_worker(settings: Settings) -> None:
    from worker.main import run_worker as run

    asyncio.run(run(settings))


def run_dashboard(settings: Settings, port: int | None) -> None:
    argv = [sys.executable, "-m", "streamlit", "run", str(DASHBOARD_APP), "--server.headless", "true",
            "--server.port", str(port or settings.dashboard_port), "--server.address", settings.dashboard_host,
            "--browser.gatherUsageStats", "false"]
    env = {**os.environ, "GRADEFLOW_API_URL": settings.resolved_api_url}
    os.execve(sys.executable, argv, env)  # become Streamlit, so signals reach it directly


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradeflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="start everything (embedded PostgreSQL, Redis, Temporal unless configured) "
                              "and print the URLs; Ctrl-C stops it all")
    api = sub.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    sub.add_parser("worker", help="run a worker: Temporal grading worker, intake dispatcher, reconciler")
    dash = sub.add_parser("dashboard", help="run the Streamlit dashboard")
    dash.add_argument("--port", type=int)
    sub.add_parser("migrate", help="apply database migrations")
    seed_p = sub.add_parser("seed", help="add the demo course, cohort and users (once)")
    seed_p.add_argument("--no-demo-users", action="store_true", help="only the course, no demo cohort/users")
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    add = users.add_parser("add", help="create a user and print their API token")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["student", "instructor", "operator"])
    add.add_argument("--cohort", help="enroll the user in this cohort")
    cohorts = sub.add_parser("cohorts", help="manage cohorts").add_subparsers(dest="action", required=True)
    cadd = cohorts.add_parser("add", help="create a cohort")
    cadd.add_argument("slug")
    cadd.add_argument("--title", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pgserver", "httpx", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.command == "up":
        from gradeflow.up import up

        return up(Settings())
    settings = get_settings()
    if args.command == "api":
        run_api(settings, args.host, args.port)
    elif args.command == "worker":
        run_worker(settings)
    elif args.command == "dashboard":
        run_dashboard(settings, args.port)
    elif args.command == "migrate":
        migrate(settings)
        print("database is up to date")
    elif args.command == "seed":
        seed(settings, demo=not args.no_demo_users)
    elif args.command == "users":
        return users_add(settings, args.name, args.role, args.cohort)
    elif args.command == "cohorts":
        return cohorts_add(settings, args.slug, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
