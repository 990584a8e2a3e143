"""The `gradeflow` command: run the whole platform or any one role, migrate, seed, manage users and cohorts."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from pathlib import Path

from gradeflow.logs import configure as configure_logging
from gradeflow.settings import Settings, get_settings
from gradeflow.vocabulary import (
    BATCH_ENDED,
    REPORT_ENDED,
    BatchStatus,
    GradeRule,
    ReportStatus,
    Role,
)

DASHBOARD_APP = Path(__file__).resolve().parents[2] / "dashboard" / "server.py"


async def _with_session(settings: Settings, fn):
    from gradeflow.db import in_transaction

    settings.require("database_url")
    return await in_transaction(settings.need("database_url"), fn)


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
    if cohort is None and role != Role.OPERATOR:
        print(
            f"note: '{name}' is in no cohort, so they see no assignments (and teach nothing) until enrolled: "
            f"`gradeflow cohorts enroll SLUG {name}`",
            file=sys.stderr,
        )
    return 0


def users_list(settings: Settings, cohort: str | None) -> int:
    from sqlalchemy import func, select

    from gradeflow.models import Cohort, Enrollment, User

    async def run(session):
        cohorts = (
            select(Enrollment.user_id, func.string_agg(Cohort.slug, ",").label("slugs"))
            .join(Cohort, Cohort.id == Enrollment.cohort_id)
            .group_by(Enrollment.user_id)
            .subquery()
        )
        query = select(User, cohorts.c.slugs).outerjoin(cohorts, cohorts.c.user_id == User.id)
        return (await session.execute(query.order_by(User.name))).all()

    rows = [
        (u, slugs)
        for u, slugs in asyncio.run(_with_session(settings, run))
        if not cohort or cohort in (slugs or "").split(",")
    ]
    print(f"{'name':<24} {'role':<10} {'email':<28} {'sis_id':<12} {'token':<8} cohorts")
    for user, slugs in rows:
        print(
            f"{user.name:<24} {user.role:<10} {user.email or '-':<28} {user.sis_id or '-':<12} "
            f"{'revoked' if user.revoked_at else 'active':<8} {slugs or '-'}"
        )
    print(f"{len(rows)} users")
    return 0


def announce_token_changed(settings: Settings, token_hash: str) -> None:
    """Every API process forgets what it cached for the token (revoked, rotated, or its cohorts changed)."""
    from gradeflow import redis_keys

    async def announce() -> None:
        redis = redis_keys.connect(settings.need("redis_url"))
        try:
            await redis_keys.announce_token_changed(redis, token_hash)
        finally:
            await redis.aclose()

    asyncio.run(announce())


def users_token(settings: Settings, who: str, action: str) -> int:
    """`users revoke` / `users rotate`: the old token stops working at once (every API process is told)."""
    from gradeflow.accounts import AccountError, find_user
    from gradeflow.roster import revoke, rotate

    async def run(session):
        user = await find_user(session, who)
        if action == "revoke":
            return user.name, await revoke(session, user), None
        old, token = await rotate(session, user)
        return user.name, old, token

    try:
        name, old_hash, token = asyncio.run(_with_session(settings, run))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if settings.redis_url:
        announce_token_changed(settings, old_hash)
    if token is None:
        print(
            f"revoked the token of '{name}': it stops working now. `gradeflow users rotate {name}` "
            "gives them a new one."
        )
    else:
        print(
            f"new API token for '{name}' (shown only now, keep it secret; the old one stops working now):"
        )
        print(token)
    return 0


def roster_import(settings: Settings, cohort: str, path: Path, tokens_path: Path | None) -> int:
    """Import a roster CSV into a cohort; the new people's tokens go to a file only its owner can read."""
    import csv
    import time

    from sqlalchemy import select

    from gradeflow.accounts import AccountError
    from gradeflow.models import Cohort
    from gradeflow.roster import import_roster, parse

    try:
        rows = parse(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = tokens_path or settings.home / "tokens" / f"{cohort}-{time.strftime('%Y%m%d-%H%M%S')}.csv"

    async def run(session):
        found = (await session.execute(select(Cohort).where(Cohort.slug == cohort))).scalar()
        if found is None:
            raise AccountError(
                f"cohort '{cohort}' does not exist; create it with `gradeflow cohorts add`"
            )
        return await import_roster(session, found, rows)

    try:
        # Refuse to overwrite, and create it readable by its owner only, before anything is imported.
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"error: cannot write the tokens to {out}: {exc}", file=sys.stderr)
        return 1
    try:
        result = asyncio.run(_with_session(settings, run))
    except AccountError as exc:
        os.close(fd)
        out.unlink()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "email", "sis_id", "role", "token"])
        for row, token in result.created:
            writer.writerow([row.name, row.email or "", row.sis_id or "", row.role, token])
    if not result.created:
        out.unlink()
    print(
        f"cohort '{cohort}': {len(result.created)} created, {len(result.enrolled)} already on GradeFlow "
        f"and now enrolled, {len(result.already)} already in the cohort."
    )
    if result.created:
        print(f"their tokens (shown nowhere else; give each person theirs) are in {out}")
    return 0


def cohorts_list(settings: Settings) -> int:
    from sqlalchemy import func, select

    from gradeflow.models import Cohort, Enrollment, User
    from gradeflow.vocabulary import Role

    async def run(session):
        return (
            await session.execute(
                select(
                    Cohort.slug,
                    Cohort.title,
                    func.count(User.id).filter(User.role == Role.STUDENT),
                    func.count(User.id).filter(User.role != Role.STUDENT),
                )
                .outerjoin(Enrollment, Enrollment.cohort_id == Cohort.id)
                .outerjoin(User, User.id == Enrollment.user_id)
                .group_by(Cohort.id)
                .order_by(Cohort.slug)
            )
        ).all()

    rows = asyncio.run(_with_session(settings, run))
    print(f"{'cohort':<24} {'students':>8} {'staff':>6}  title")
    for slug, title, students, staff in rows:
        print(f"{slug:<24} {students:>8} {staff:>6}  {title}")
    return 0


def cohorts_add(settings: Settings, slug: str, title: str, rule: str) -> int:
    from gradeflow.accounts import AccountError, add_cohort

    async def run(session):
        cohort = await add_cohort(session, slug, title)
        cohort.grade_rule = rule

    try:
        asyncio.run(_with_session(settings, run))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created cohort '{slug}' (grades: each student's {rule} graded score)")
    return 0


def cohorts_member(settings: Settings, action: str, slug: str, who: str, role: str | None) -> int:
    """`cohorts enroll` / `cohorts remove`: someone already on GradeFlow joins or leaves a cohort (their
    submissions and grades stay when they leave)."""
    from gradeflow.accounts import AccountError, enroll, find_cohort, unenroll

    async def run(session):
        cohort = await find_cohort(session, slug)
        if action == "enroll":
            return await enroll(session, cohort, who, role)
        return await unenroll(session, cohort, who), True

    try:
        user, changed = asyncio.run(_with_session(settings, run))
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if settings.redis_url:
        announce_token_changed(settings, user.token_hash)
    if action == "remove":
        print(
            f"removed {user.role} '{user.name}' from '{slug}' (their submissions and grades are kept)"
        )
    elif changed:
        print(f"enrolled {user.role} '{user.name}' in '{slug}'")
    else:
        print(f"{user.role} '{user.name}' is in '{slug}' already; nothing changed")
    return 0


def cohorts_rule(settings: Settings, slug: str, rule: str) -> int:
    from sqlalchemy import update

    from gradeflow.models import Cohort

    async def run(session):
        return (
            await session.execute(update(Cohort).where(Cohort.slug == slug).values(grade_rule=rule))
        ).rowcount

    if not asyncio.run(_with_session(settings, run)):
        print(f"error: cohort '{slug}' does not exist", file=sys.stderr)
        return 1
    print(f"cohort '{slug}': a student's grade is now their {rule} graded score")
    return 0


def gradebook_out(settings: Settings, slug: str, layout: str, out: Path | None) -> int:
    import json

    from sqlalchemy import select

    from gradeflow import gradebook
    from gradeflow.models import Cohort

    async def run(session):
        cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar()
        return None if cohort is None else await gradebook.build(session, cohort)

    book = asyncio.run(_with_session(settings, run))
    if book is None:
        print(f"error: cohort '{slug}' does not exist", file=sys.stderr)
        return 1
    text = (
        json.dumps(gradebook.as_json(book), indent=2) + "\n"
        if layout == "json"
        else gradebook.canvas_csv(book)
        if layout == "canvas"
        else gradebook.moodle_csv(book)
    )
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        print(f"wrote the {layout} gradebook of '{slug}' ({len(book.students)} students) to {out}")
    return 0


def demo_cohort(settings: Settings, slug: str, students: int) -> int:
    from sqlalchemy import select

    from gradeflow.launch.synthetic import DEMO_ANSWERS, synthetic_cohort
    from gradeflow.models import Assignment

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


def instructor_api(settings: Settings, token: str | None):
    """An HTTP client for the API as the instructor whose token is given (or $GRADEFLOW_TOKEN)."""
    import httpx

    token = token or os.environ.get("GRADEFLOW_TOKEN")
    if not token:
        print(
            "error: give an instructor's API token with --token or GRADEFLOW_TOKEN", file=sys.stderr
        )
        return None
    return httpx.Client(
        base_url=f"{settings.resolved_api_url}/api/v1",
        timeout=30,
        headers={"Authorization": f"Bearer {token}"},
    )


def start_through_api(settings: Settings, token: str | None, path: str, body: dict):
    """POST `body` to start something (202) as the instructor whose token is given: (the API client, what
    started), or the exit code after printing why it did not start (2: no token, 1: refused or unreachable)."""
    import httpx

    api = instructor_api(settings, token)
    if api is None:
        return 2
    try:
        response = api.post(path, json=body)
    except httpx.HTTPError as exc:
        print(
            f"error: the API at {settings.resolved_api_url} is not reachable ({exc})",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 202:
        print(f"error: {response.json().get('detail', response.text)}", file=sys.stderr)
        return 1
    return api, response.json()


def follow_job(api, path: str, job: dict, ended, line, params: dict | None = None) -> dict:
    """Read a started job (a regrade, a similarity report) every half second until its status is one of `ended`,
    showing `line(job)` on one line of the terminal; returns it as it ended."""
    import time

    while job["status"] not in ended:
        time.sleep(0.5)
        job = api.get(path, params=params).json()
        print(f"\r{line(job)}   ", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return job


def similarity(
    settings: Settings,
    cohort: str,
    assignment: int,
    token: str | None,
    top: int,
    csv_path: str | None,
) -> int:
    """Start a similarity report through the API, follow it, print the most similar pairs (and save the CSV)."""
    started = start_through_api(
        settings, token, "/similarity/reports", {"cohort": cohort, "assignment_id": assignment}
    )
    if isinstance(started, int):
        return started
    api, report = started
    print(f"similarity report {report['id']} started", file=sys.stderr)
    report = follow_job(
        api,
        f"/similarity/reports/{report['id']}",
        report,
        REPORT_ENDED,
        lambda r: f"{r['status']}: {r['fingerprinted']}/{r['total']} fingerprinted",
        params={"pairs": top},
    )
    if report["status"] != ReportStatus.COMPLETED:
        print(f"{report['status']}: {report.get('error') or ''}", file=sys.stderr)
        return 1
    print(
        f"{report['total']} students compared, {report['candidates']} pairs shared something; "
        f"the {min(top, len(report['pairs']))} most similar:"
    )
    print(f"{'rank':>4}  {'similar':>7}  {'lines':>5}  students")
    for p in report["pairs"][:top]:
        print(
            f"{p['rank']:>4}  {p['similarity']:>7.0%}  {p['longest_lines']:>5}  "
            f"{p['a_student']} / {p['b_student']}"
        )
    if csv_path:
        Path(csv_path).write_text(api.get(f"/similarity/reports/{report['id']}/export").text)
        print(f"every pair: {csv_path}")
    return 0


def regrade(
    settings: Settings, cohort: str, assignment: int | None, follow: bool, token: str | None
) -> int:
    """Start a regrade through the API (as the instructor whose token is given) and optionally follow it."""
    started = start_through_api(
        settings, token, "/regrades", {"cohort": cohort, "assignment_id": assignment}
    )
    if isinstance(started, int):
        return started
    api, batch = started
    print(f"regrade {batch['id']} started (workflow {batch['workflow_id']})")
    if not follow:
        return 0
    batch = follow_job(api, f"/regrades/{batch['id']}", batch, BATCH_ENDED, progress_bar)
    print(
        f"{batch['status']}: {batch['done']} regraded, {batch['changed']} changed, {batch['errors']} "
        f"errors. Changes: {settings.resolved_api_url}{batch['links']['changes']}?format=csv"
    )
    return 0 if batch["status"] == BatchStatus.COMPLETED else 1


def progress_bar(batch: dict) -> str:
    """A regrade batch's progress on one line."""
    filled = int(30 * batch["done"] / max(batch["total"], 1))
    eta = f", ETA {batch['eta_seconds']:.0f} s" if batch["eta_seconds"] is not None else ""
    return (
        f"[{'#' * filled}{'.' * (30 - filled)}] {batch['done']}/{batch['total']} {batch['status']}, "
        f"{batch['rate_per_second']:.1f}/s, {batch['changed']} changed, {batch['errors']} errors{eta}"
    )


def prometheus_multiprocess_dir(settings: Settings, port: int) -> None:
    """An empty directory for this API's processes to write their metrics to (prometheus_client's multiprocess
    mode: /metrics adds every process up), named in the environment before uvicorn starts them. Kept unless the
    operator set PROMETHEUS_MULTIPROC_DIR already (then it is theirs to empty between runs)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = settings.home / "metrics" / f"api-{port}"
    shutil.rmtree(folder, ignore_errors=True)  # the last run's samples are not this run's
    try:
        folder.mkdir(parents=True)
    except OSError:  # a read-only home (a container's app directory): a fresh temporary one
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix=f"gradeflow-api-{port}-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder.resolve())


def run_api(settings: Settings, host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn

    settings.require("database_url", "redis_url")
    port = port or settings.api_port
    prometheus_multiprocess_dir(settings, port)
    # Uvicorn's lines go through GradeFlow's logging (text or JSON)
    uvicorn.run(
        "api.main:app",
        host=host or settings.api_host,
        port=port,
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
    import uvloop

    from worker.main import run_worker as run

    # uvloop, as uvicorn uses for the API: less CPU per grading for the same work (BENCHMARKS.md)
    uvloop.run(run(settings))


def run_dashboard(settings: Settings, port: int | None, host: str | None = None) -> None:
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
        host or settings.dashboard_host,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "type",  # a bug shows its kind; the traceback goes to the log only
        # Production settings. Streamlit's full garbage collection after every script run was about 90% of a
        # rerun's CPU (102 of 117 ms per page with 100 pages open); reference cycles are still collected by
        # Python's own generational collector.
        "--runner.postScriptGC",
        "false",
        # No file watcher: the dashboard's code does not change under a running server, and scanning modules
        # was most of the CPU of opening a page.
        "--server.fileWatcherType",
        "none",
    ]
    env = {**os.environ, "GRADEFLOW_API_URL": settings.resolved_api_url}
    os.execve(sys.executable, argv, env)  # become Streamlit, so signals reach it directly


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in --help: argparse's own words, unless the help already says it (a default that
    comes from a setting) or there is none to say (a flag, an option that is off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action) or text


def command(sub, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose --help says what it does and lists its options with their defaults."""
    return sub.add_parser(name, help=help, description=help, formatter_class=HelpFormatter)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("gradeflow")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradeflow",
        description=f"{__doc__} Commands that manage accounts find the running platform from any "
        "directory: GRADEFLOW_HOME when set, else ./.gradeflow, else the `gradeflow up` running on this "
        "machine.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gradeflow {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up_p = command(
        sub,
        "up",
        "start everything (embedded PostgreSQL, Redis, Temporal unless configured), print the URLs and "
        "keep it running; Ctrl-C stops it all",
    )
    up_p.add_argument(
        "--home", type=Path, help="data, logs and tokens (default: $GRADEFLOW_HOME or ./.gradeflow)"
    )
    up_p.add_argument("--api-port", type=int, help="the API's port (default: 8000)")
    up_p.add_argument("--dashboard-port", type=int, help="the dashboard's port (default: 8501)")
    up_p.add_argument(
        "--dashboards",
        type=int,
        help="dashboard processes, behind HAProxy when more than one (default: 1)",
    )
    up_p.add_argument(
        "--no-demo", action="store_true", help="seed the course only: no demo cohort and users"
    )
    api = command(sub, "api", "run the HTTP API (uvicorn)")
    api.add_argument("--host", help="default: GRADEFLOW_API_HOST, 127.0.0.1")
    api.add_argument("--port", type=int, help="default: GRADEFLOW_API_PORT, 8000")
    api.add_argument(
        "--workers", type=int, help="API processes (default: GRADEFLOW_API_WORKERS, one per core)"
    )
    command(sub, "worker", "run a worker: Temporal grading worker, intake dispatcher, reconciler")
    dash = command(sub, "dashboard", "run the Streamlit dashboard")
    dash.add_argument("--host", help="default: GRADEFLOW_DASHBOARD_HOST, 127.0.0.1")
    dash.add_argument("--port", type=int, help="default: GRADEFLOW_DASHBOARD_PORT, 8501")
    command(sub, "migrate", "apply database migrations")
    seed_p = command(sub, "seed", "add the demo course, cohort and users (once)")
    seed_p.add_argument(
        "--no-demo-users", action="store_true", help="only the course, no demo cohort/users"
    )
    seed_p.add_argument(
        "--print-tokens", action="store_true", help="also print the new demo users' tokens"
    )
    hand_in = command(
        sub,
        "submit",
        "hand in a file as a student; with --follow wait for the verdict (exit 0: passed, 1: not passed "
        "or refused, 2: could not try)",
    )
    hand_in.add_argument("assignment", help="the assignment's id, slug or title")
    hand_in.add_argument("file", type=Path, help="the source file to hand in")
    hand_in.add_argument(
        "--follow", action="store_true", help="wait for the verdict and print each test"
    )
    hand_in.add_argument(
        "--token", help="your API token (default: $GRADEFLOW_TOKEN, else the file)"
    )
    hand_in.add_argument(
        "--token-file",
        type=Path,
        help="a file holding your API token (default: ~/.config/gradeflow/token)",
    )
    rg = command(sub, "regrade", "re-grade a cohort through the API (needs an instructor's token)")
    rg.add_argument("cohort")
    rg.add_argument("--assignment", type=int, help="only this assignment id (default: all)")
    rg.add_argument("--follow", action="store_true", help="show a progress bar until it ends")
    rg.add_argument("--token", help="an instructor's API token (default: $GRADEFLOW_TOKEN)")
    sim = command(
        sub,
        "similarity",
        "a similarity report of one assignment in a cohort, through the API (an instructor's token)",
    )
    sim.add_argument("cohort")
    sim.add_argument("--assignment", type=int, required=True, help="the assignment id")
    sim.add_argument("--top", type=int, default=20, help="pairs to print")
    sim.add_argument("--csv", help="also save every pair as CSV here")
    sim.add_argument("--token", help="an instructor's API token (default: $GRADEFLOW_TOKEN)")
    demo = command(
        sub, "demo-cohort", "a synthetic cohort of students with graded submissions to regrade"
    )
    demo.add_argument("slug")
    demo.add_argument("--students", type=int, default=100, help="how many")
    users = command(sub, "users", "manage users").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = command(
        users, "add", "create a user and print their API token (new people in bulk: `roster`)"
    )
    add.add_argument("name", help="login name: letters, digits, '.', '_', '-', '@'")
    add.add_argument("--role", required=True, choices=list(Role), help="their role on GradeFlow")
    add.add_argument(
        "--cohort", help="enroll them in this cohort (without one they see nothing until enrolled)"
    )
    ulist = command(users, "list", "users, their roles, emails, SIS ids, cohorts and token state")
    ulist.add_argument("--cohort", help="only the members of this cohort")
    for action, words in (
        ("revoke", "make a user's token stop working at once"),
        ("rotate", "give a user a new token (the old one stops working at once)"),
    ):
        command(users, action, words).add_argument("who", help="name, email or SIS id")
    cohorts = command(sub, "cohorts", "manage cohorts and who is in them").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    cadd = command(
        cohorts, "add", "create a cohort, offered the whole course to read and grade against"
    )
    cadd.add_argument("slug")
    cadd.add_argument("--title", default="", help="default: the slug")
    cadd.add_argument(
        "--grade-rule",
        choices=list(GradeRule),
        default=GradeRule.BEST,
        help="a student's grade for an assignment: their best or their latest graded score",
    )
    cenroll = command(
        cohorts, "enroll", "put someone already on GradeFlow (student or staff) in a cohort"
    )
    cenroll.add_argument("slug", help="the cohort")
    cenroll.add_argument("who", help="their name, email or SIS id")
    cenroll.add_argument(
        "--role", choices=list(Role), help="their role, as a check (refused if it is another)"
    )
    cremove = command(
        cohorts, "remove", "take someone out of a cohort (their submissions and grades are kept)"
    )
    cremove.add_argument("slug", help="the cohort")
    cremove.add_argument("who", help="their name, email or SIS id")
    crule = command(cohorts, "rule", "set whether grades are the best or the latest score")
    crule.add_argument("slug")
    crule.add_argument("rule", choices=list(GradeRule))
    command(cohorts, "list", "cohorts with their numbers of students and staff")
    book = command(sub, "gradebook", "a cohort's grades, for an LMS to import")
    book.add_argument("cohort")
    book.add_argument(
        "--format",
        choices=["canvas", "moodle", "json"],
        default="canvas",
        help="Canvas's or Moodle's gradebook import, or JSON",
    )
    book.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    roster = command(sub, "roster", "import a roster CSV (name,email,sis_id,role) into a cohort")
    roster.add_argument("cohort")
    roster.add_argument("file", type=Path)
    roster.add_argument(
        "--tokens",
        type=Path,
        help="where to write the new people's tokens (a new file, readable by you only; default: "
        "$GRADEFLOW_HOME/tokens/COHORT-TIME.csv)",
    )
    from gradeflow.lti import cli as lti_cli

    lti_cli.add_commands(sub, command)
    return parser


def up_settings(args: argparse.Namespace) -> Settings:
    """The settings `up` runs with: the environment's, with its options on top."""
    given = {
        "home": args.home,
        "api_port": args.api_port,
        "dashboard_port": args.dashboard_port,
        "dashboards": args.dashboards,
        "seed_demo": False if args.no_demo else None,
    }
    return Settings(**{k: v for k, v in given.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    from gradeflow.lti.cli import kid_as_positional

    args = build_parser().parse_args(kid_as_positional(sys.argv[1:] if argv is None else argv))
    configure_logging(Settings().log_format)
    if args.command == "up":
        from gradeflow.launch.up import up

        return up(up_settings(args))
    settings = get_settings()
    if args.command == "api":
        run_api(settings, args.host, args.port, args.workers)
    elif args.command == "worker":
        run_worker(settings)
    elif args.command == "dashboard":
        run_dashboard(settings, args.port, args.host)
    elif args.command == "migrate":
        from gradeflow.launch.migrate import migrate

        migrate(settings)
        print("database is up to date")
    elif args.command == "seed":
        from gradeflow.launch.seed import seed

        seed(settings, demo=not args.no_demo_users, print_tokens=args.print_tokens)
    elif args.command == "submit":
        from gradeflow.submit import submit

        return submit(
            settings, args.assignment, args.file, args.follow, args.token, args.token_file
        )
    elif args.command == "regrade":
        return regrade(settings, args.cohort, args.assignment, args.follow, args.token)
    elif args.command == "similarity":
        return similarity(settings, args.cohort, args.assignment, args.token, args.top, args.csv)
    elif args.command == "demo-cohort":
        return demo_cohort(settings, args.slug, args.students)
    elif args.command == "users" and args.action == "add":
        return users_add(settings, args.name, args.role, args.cohort)
    elif args.command == "users" and args.action == "list":
        return users_list(settings, args.cohort)
    elif args.command == "users":
        return users_token(settings, args.who, args.action)
    elif args.command == "cohorts" and args.action == "list":
        return cohorts_list(settings)
    elif args.command == "cohorts" and args.action in ("enroll", "remove"):
        return cohorts_member(
            settings, args.action, args.slug, args.who, getattr(args, "role", None)
        )
    elif args.command == "cohorts" and args.action == "rule":
        return cohorts_rule(settings, args.slug, args.rule)
    elif args.command == "cohorts":
        return cohorts_add(settings, args.slug, args.title, args.grade_rule)
    elif args.command == "gradebook":
        return gradebook_out(settings, args.cohort, args.format, args.out)
    elif args.command == "roster":
        return roster_import(settings, args.cohort, args.file, args.tokens)
    elif args.command == "lti":
        from gradeflow.lti import cli as lti_cli

        return lti_cli.run(settings, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
