"""Seeds the demo course, cohort and users on first start; demo tokens go to $GRADEFLOW_HOME/demo-tokens.json."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import add_cohort, add_user, offer
from gradeflow.db import in_transaction
from gradeflow.launch.seed_course import COURSE
from gradeflow.launch.seed_languages import LANGUAGE_COURSE
from gradeflow.limits import DEFAULT_LIMITS
from gradeflow.models import Assignment, Cohort
from gradeflow.settings import Settings
from gradeflow.versions import test_version
from gradeflow.vocabulary import Role

DEMO_COHORT = "demo"
DEMO_USERS = [
    ("ada", Role.INSTRUCTOR),
    ("otto", Role.OPERATOR),
    ("alice", Role.STUDENT),
    ("bob", Role.STUDENT),
    ("carol", Role.STUDENT),
]
TOKENS_FILE = "demo-tokens.json"


async def seed_assignments(session: AsyncSession) -> int:
    """The demo course into an empty catalogue: the Python assignments, then those in other languages. A catalogue
    seeded before there were other languages (it holds the Python course and no other language) gains those."""
    slugs = set(await session.scalars(select(Assignment.slug)))
    other_languages = await session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.language != "python")
    )
    if slugs and (other_languages or not {item.slug for item in COURSE} <= slugs):
        return 0
    limits = dict(DEFAULT_LIMITS)
    # (seed, language, test code, I/O cases, function tests): what tells the two kinds of seed apart
    python: list[tuple[Any, str, str, list, list]] = (
        [] if slugs else [(item, "python", item.test_code, [], []) for item in COURSE]
    )
    others: list[tuple[Any, str, str, list, list]] = [
        (item, item.language, item.driver, item.io_cases, item.function_tests)
        for item in LANGUAGE_COURSE
        if item.slug not in slugs
    ]
    rows = [
        Assignment(
            slug=item.slug,
            title=item.title,
            handout=item.handout,
            language=language,
            points=item.points,
            test_code=test_code,
            io_cases=io_cases,
            function_tests=function_tests,
            language_options={},
            limits=limits,
            reference_solution=item.reference_solution,
            test_version=test_version(test_code, io_cases, limits, language, function_tests, {}),
        )
        for item, language, test_code, io_cases, function_tests in python + others
    ]
    start = await session.scalar(select(func.coalesce(func.max(Assignment.position), 0)))
    for position, row in enumerate(rows, start=int(start or 0) + 1):
        row.position = position
        session.add(row)
    await session.flush()
    if not slugs:
        await offer(session)  # to any cohort there already is
    else:  # a catalogue in use: the new assignments go to the demo cohort only, never into a real course
        demo = await session.scalar(select(Cohort.id).where(Cohort.slug == DEMO_COHORT))
        if demo is not None:
            await offer(session, cohorts=[demo], assignments=[row.id for row in rows])
    return len(rows)


async def seed_demo(session: AsyncSession, home: Path) -> dict[str, str]:
    """The demo cohort and users; returns their tokens ({} when they exist already)."""
    if (
        await session.execute(select(Cohort).where(Cohort.slug == DEMO_COHORT))
    ).scalar_one_or_none():
        return {}
    await add_cohort(session, DEMO_COHORT, "Demo cohort")
    tokens = {}
    for name, role in DEMO_USERS:
        _, tokens[name] = await add_user(session, name, role, DEMO_COHORT)
    return tokens


def save_tokens(home: Path, tokens: dict[str, str]) -> Path:
    path = home / TOKENS_FILE
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(
            {
                name: {"role": dict(DEMO_USERS)[name], "token": token}
                for name, token in tokens.items()
            },
            f,
            indent=2,
        )
    return path


def load_tokens(home: Path) -> dict[str, dict[str, str]]:
    path = home / TOKENS_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def seed(settings: Settings, demo: bool = True, print_tokens: bool = False) -> dict[str, str]:
    """Seed the course (once) and, with `demo`, the demo cohort and users; returns new demo tokens (printed too
    with `print_tokens`: a container's operator reads them in its output)."""

    async def run(session):
        created = await seed_assignments(session)
        tokens = await seed_demo(session, settings.home) if demo else {}
        return created, tokens

    created, tokens = asyncio.run(in_transaction(settings.need("database_url"), run))
    if created:
        print(f"seeded {created} assignments")
    if tokens:
        try:
            path = save_tokens(settings.home, tokens)
            print(f"seeded the demo cohort; its tokens are in {path}")
        except OSError as exc:  # a read-only home: the tokens exist only now, so they are printed
            print(f"seeded the demo cohort, but could not save its tokens ({exc})", file=sys.stderr)
            print_tokens = True
        if print_tokens:
            print("Demo tokens (shown once here; keep them secret):")
            for name, token in tokens.items():
                print(f"  {name:<6} {token}")
    return tokens
