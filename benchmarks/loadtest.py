"""`make loadtest`: locust's people (benchmarks/locustfile.py) against the embedded stack, headless, with CSV output,
then a check that nothing was lost and a summary in BENCHMARKS.md.

    python -m benchmarks.loadtest [--shape rush|steady] [--students 100] [--rush 500] [--duration 600]
                                  [--api-url URL --users FILE]   # against a running stack instead
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow.accounts import add_user
from gradeflow.launch.roles import Stack
from gradeflow.launch.synthetic import synthetic_students
from gradeflow.models import Assignment
from gradeflow.vocabulary import FINAL_STATUSES, Role, SubmissionStatus

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
OUT = Path("test-output/loadtest")


def make_users(stack: Stack, students: int, instructors: int, operators: int, path: Path) -> dict:
    """A cohort of `students` and its staff; their tokens go to `path` for the locustfile."""
    slug = f"load-{uuid.uuid4().hex[:6]}"

    async def run(session):
        made = await synthetic_students(session, slug, students)
        teachers = [
            (await add_user(session, f"{slug}-teacher-{i}", Role.INSTRUCTOR, slug))[1]
            for i in range(instructors)
        ]
        ops = [
            (await add_user(session, f"{slug}-operator-{i}", Role.OPERATOR, None))[1]
            for i in range(operators)
        ]
        ids = list(
            (
                await session.execute(
                    select(Assignment.id).where(Assignment.slug.in_(["hello", "sum"]))
                )
            ).scalars()
        )
        return {
            "students": [t for _, t in made],
            "instructors": teachers,
            "operators": ops,
            "cohort": slug,
            "assignments": ids,
        }

    users = stack.db(run)
    path.write_text(json.dumps(users))
    return users


def run_locust(
    api_url: str,
    users_file: Path,
    shape: str,
    students: int,
    rush: int,
    duration: int,
    instructors: int,
    operators: int,
    prefix: Path,
    processes: int = 1,
    stop_timeout: int = 120,
) -> int:
    env = {
        **os.environ,
        "GRADEFLOW_LOADTEST_USERS": str(users_file),
        "GRADEFLOW_LOADTEST_SHAPE": shape,
        "GRADEFLOW_LOADTEST_STUDENTS": str(students),
        "GRADEFLOW_LOADTEST_RUSH": str(rush),
        "GRADEFLOW_LOADTEST_DURATION": str(duration),
        "GRADEFLOW_LOADTEST_INSTRUCTORS": str(instructors),
        "GRADEFLOW_LOADTEST_OPERATORS": str(operators),
    }
    prefix.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        api_url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--stop-timeout",
        str(stop_timeout),
    ]
    if processes > 1:
        argv += ["--processes", str(processes)]
    return subprocess.run(argv, env=env, timeout=duration + 600).returncode


def read_stats(prefix: Path) -> list[dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def summary_table(rows: list[dict[str, str]]) -> str:
    lines = [
        "| type | name | requests | failures | requests/s | p50 ms | p95 ms | p99 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['Type'] or 'all'} | {r['Name']} | {int(r['Request Count']):,} | "
            f"{int(r['Failure Count']):,} | {float(r['Requests/s']):.1f} | {r['50%']} | {r['95%']} | "
            f"{r['99%']} |"
        )
    return "\n".join(lines)


def lost_submissions(stack: Stack, cohort: str, wait_seconds: float = 300) -> tuple[int, int, int]:
    """Waits for every submission of the cohort to be final; returns (submissions, graded exactly once, lost)."""
    query = (
        "SELECT s.status, s.cached, count(g.id) FROM submissions s JOIN cohorts c ON c.id = s.cohort_id "
        "LEFT JOIN grading_runs g ON g.submission_id = s.id AND g.regrade_batch_id IS NULL "
        "WHERE c.slug = :slug GROUP BY s.id, s.status, s.cached"
    )
    deadline = time.monotonic() + wait_seconds
    while True:
        rows = stack.sql(query, slug=cohort)
        pending = sum(1 for status, _, _ in rows if status not in FINAL_STATUSES)
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1)
    once = sum(
        1
        for status, cached, runs in rows
        if status == SubmissionStatus.GRADED and (runs == 1 or (cached and runs == 0))
    )
    return len(rows), once, len(rows) - once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=["rush", "steady"], default="rush")
    parser.add_argument("--students", type=int, default=100, help="steady students (default 100)")
    parser.add_argument(
        "--rush", type=int, default=500, help="students arriving at the deadline (default 500)"
    )
    parser.add_argument("--duration", type=int, default=120, help="seconds (default 120)")
    parser.add_argument("--instructors", type=int, default=2)
    parser.add_argument("--operators", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="locust processes (default 1)")
    parser.add_argument("--no-report", action="store_true", help="leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    prefix = OUT / f"{args.shape}-{time.strftime('%Y%m%d-%H%M%S')}"
    rush = args.rush if args.shape == "rush" else 0
    with bench_stack() as stack, tempfile.TemporaryDirectory() as tmp:
        users = make_users(
            stack, args.students + rush, args.instructors, args.operators, Path(tmp) / "users.json"
        )
        code = run_locust(
            stack.api_url,
            Path(tmp) / "users.json",
            args.shape,
            args.students,
            rush,
            args.duration,
            args.instructors,
            args.operators,
            prefix,
            args.processes,
        )
        total, once, lost = lost_submissions(stack, users["cohort"])
    rows = read_stats(prefix)
    failures = sum(int(r["Failure Count"]) for r in rows if r["Name"] == "Aggregated")
    print(summary_table(rows))
    print(
        f"submissions: {total}, graded exactly once: {once}, lost or not graded: {lost}; failed requests: "
        f"{failures}; CSV: {prefix}_stats.csv"
    )
    if not args.no_report:
        command = (
            f"make loadtest SHAPE={args.shape} STUDENTS={args.students} RUSH={rush} "
            f"DURATION={args.duration}"
        )
        # One section per shape and length, so a short run does not replace the ten-minute one.
        write_section(
            f"loadtest-{args.shape}-{args.duration}s",
            f"""## Load test: {args.shape}, {args.duration} s (issue #9)

Command: `{command}` (`python -m benchmarks.loadtest`, locust headless with `benchmarks/locustfile.py` against the
embedded stack; load generator on the same 2-core machine). {args.students} students, {args.instructors} instructors
and {args.operators} operator for {args.duration} s{f"; a third of the way in, {rush} more students arrive within 3 s and submit at once" if rush else ""}.
Students open the page, submit, follow the grading over its events stream, read the result and think 5-20 s;
instructors read the cohort matrix and regrade one assignment now and then; the operator reads the ops pages.
Machine: {machine()}.

{summary_table(rows)}

Submissions: {total:,} ({total / args.duration:.1f}/s on average); graded exactly once: {once:,}; lost or not graded:
{lost}. Failed requests: {failures}. The students of the rush stay and go on working, so from then on they ask for
more gradings a second than the drain gives (see the live path section): the backlog is what submit -> result shows.
""",
        )
    return 0 if code == 0 and failures == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
