"""The `gradeflow` command: run the whole platform or any one role, migrate, seed, manage users and cohorts."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from gradeflow.logs import configure as configure_logging
from gradeflow.settings import Settings, get_settings
from gradeflow.vocabulary import BATCH_ENDED, BatchStatus, Role

DASHBOARD_APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"


def alembic_config(database_url: str):
    """Alembic's configuration for GradeFlow's migrations against `database_url` (no logging set-up of its own)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(Path(__file__).resolve().parent.parent / "migrations")
    )
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def migrate(settings: Settings) -> None:
    from alembic import command

    command.upgrade(alembic_config(settings.need("database_url")), "head")


async def _with_session(settings: Settings, fn):
    from gradeflow.db import in_transaction

    settings.require("database_url")
    return await in_transaction(settings.need("database_url"), fn)


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
        user, token = asyncio.run(
            _with_session(settings, lambda s: add_user(s, name, role, cohort))
        )
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


def demo_cohort(settings: Settings, slug: str, students: int) -> int:
    from sqlalchemy import select

    from gradeflow.models import Assignment
    from gradeflow.synthetic import DEMO_ANSWERS, synthetic_cohort

    async def run(session):
        slugs = dict((await session.execute(select(Assignment.slug, Assignment.id))).all())
        missing = [s for s in DEMO_ANSWERS if s not in slugs]
        if missing:
            raise SystemExit(
                f"the demo course is not seeded (missing {', '.join(missing)}): run `gradeflow seed`"
            )
        return await synthetic_cohort(
            session, slug, students, {slugs[s]: a for s, a in DEMO_ANSWERS.items()}
        )

    ids = asyncio.run(_with_session(settings, run))
    print(
        f"cohort '{slug}': {students} students, {len(ids)} graded submissions. Enroll an instructor with "
        f"`gradeflow users add NAME --role instructor --cohort {slug}`, then `gradeflow regrade {slug}`."
    )
    return 0


def regrade(
    settings: Settings, cohort: str, assignment: int | None, follow: bool, token: str | None
) -> int:
    """Start a regrade through the API (as the instructor whose token is given) and optionally follow it."""
    import time

    import httpx

    token = token or os.environ.get("GRADEFLOW_TOKEN")
    if not token:
        print(
            "error: give an instructor's API token with --token or GRADEFLOW_TOKEN", file=sys.stderr
        )
        return 2
    api = httpx.Client(
        base_url=f"{settings.resolved_api_url}/api/v1",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        response = api.post("/regrades", json={"cohort": cohort, "assignment_id": assignment})
    except httpx.HTTPError as exc:
        print(
            f"error: the API at {settings.resolved_api_url} is not reachable ({exc})",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 202:
        print(f"error: {response.json().get('detail', response.text)}", file=sys.stderr)
        return 1
    batch = response.json()
    print(f"regrade {batch['id']} started (workflow {batch['workflow_id']})")
    if not follow:
        return 0
    while True:
        batch = api.get(f"/regrades/{batch['id']}").json()
        total = max(batch["total"], 1)
        filled = int(30 * batch["done"] / total)
        eta = f", ETA {batch['eta_seconds']:.0f} s" if batch["eta_seconds"] is not None else ""
        print(
            f"\r[{'#' * filled}{'.' * (30 - filled)}] {batch['done']}/{batch['total']} {batch['status']}, "
            f"{batch['rate_per_second']:.1f}/s, {batch['changed']} changed, {batch['errors']} errors{eta}   ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if batch["status"] in BATCH_ENDED:
            print(file=sys.stderr)
            print(
                f"{batch['status']}: {batch['done']} regraded, {batch['changed']} changed, {batch['errors']} "
                f"errors. Changes: {settings.resolved_api_url}{batch['links']['changes']}?format=csv"
            )
            return 0 if batch["status"] == BatchStatus.COMPLETED else 1
        time.sleep(0.5)


def run_api(settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn

    settings.require("database_url", "redis_url")
    # Uvicorn's lines go through GradeFlow's logging (text or JSON)
    uvicorn.run(
        "api.main:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        workers=workers or settings.api_workers,
        proxy_headers=True,
        access_log=settings.api_access_log,
        # Longer than clients keep idle connections (httpx: 5 s), so a client never reuses a connection
        # the server is closing at that moment.
        timeout_keep_alive=75,
        log_config=None,
    )


def run_worker(settings: Settings) -> None:
    from worker.main import run_worker as run

    asyncio.run(run(settings))


def run_dashboard(settings: Settings, port: int | None) -> None:
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_APP),
        "--server.headless",
        "true",
        "--server.port",
        str(port or settings.dashboard_port),
        "--server.address",
        settings.dashboard_host,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "type",
    ]  # a bug shows its kind; the traceback goes to the log only
    env = {**os.environ, "GRADEFLOW_API_URL": settings.resolved_api_url}
    os.execve(sys.executable, argv, env)  # become Streamlit, so signals reach it directly


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradeflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "up",
        help="start everything (embedded PostgreSQL, Redis, Temporal unless configured) "
        "and print the URLs; Ctrl-C stops it all",
    )
    api = sub.add_parser("api", help="run the HTTP API (uvicorn)")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument(
        "--workers", type=int, help="API processes (default: GRADEFLOW_API_WORKERS, one per core)"
    )
    sub.add_parser(
        "worker", help="run a worker: Temporal grading worker, intake dispatcher, reconciler"
    )
    dash = sub.add_parser("dashboard", help="run the Streamlit dashboard")
    dash.add_argument("--port", type=int)
    sub.add_parser("migrate", help="apply database migrations")
    seed_p = sub.add_parser("seed", help="add the demo course, cohort and users (once)")
    seed_p.add_argument(
        "--no-demo-users", action="store_true", help="only the course, no demo cohort/users"
    )
    rg = sub.add_parser(
        "regrade", help="re-grade a cohort through the API (needs an instructor's token)"
    )
    rg.add_argument("cohort")
    rg.add_argument("--assignment", type=int, help="only this assignment id")
    rg.add_argument("--follow", action="store_true", help="show a progress bar until it ends")
    rg.add_argument("--token", help="an instructor's API token (default: $GRADEFLOW_TOKEN)")
    demo = sub.add_parser(
        "demo-cohort", help="a synthetic cohort of students with graded submissions to regrade"
    )
    demo.add_argument("slug")
    demo.add_argument("--students", type=int, default=100)
    users = sub.add_parser("users", help="manage users").add_subparsers(
        dest="action", required=True
    )
    add = users.add_parser("add", help="create a user and print their API token")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=list(Role))
    add.add_argument("--cohort", help="enroll the user in this cohort")
    cohorts = sub.add_parser("cohorts", help="manage cohorts").add_subparsers(
        dest="action", required=True
    )
    cadd = cohorts.add_parser("add", help="create a cohort")
    cadd.add_argument("slug")
    cadd.add_argument("--title", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(Settings().log_format)
    if args.command == "up":
        from gradeflow.up import up

        return up(Settings())
    settings = get_settings()
    if args.command == "api":
        run_api(settings, args.host, args.port, args.workers)
    elif args.command == "worker":
        run_worker(settings)
    elif args.command == "dashboard":
        run_dashboard(settings, args.port)
    elif args.command == "migrate":
        migrate(settings)
        print("database is up to date")
    elif args.command == "seed":
        seed(settings, demo=not args.no_demo_users)
    elif args.command == "regrade":
        return regrade(settings, args.cohort, args.assignment, args.follow, args.token)
    elif args.command == "demo-cohort":
        return demo_cohort(settings, args.slug, args.students)
    elif args.command == "users":
        return users_add(settings, args.name, args.role, args.cohort)
    elif args.command == "cohorts":
        return cohorts_add(settings, args.slug, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
