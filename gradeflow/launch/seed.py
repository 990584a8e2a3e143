"""Seeds the demo course, cohort and users on first start; demo tokens go to $GRADEFLOW_HOME/demo-tokens.json."""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import add_cohort, add_user, offer
from gradeflow.limits import DEFAULT_LIMITS
from gradeflow.models import Assignment, Cohort
from gradeflow.seed_course import COURSE
from gradeflow.versions import test_version

DEMO_COHORT = "demo"
DEMO_USERS = [
    ("ada", "instructor"),
    ("otto", "operator"),
    ("alice", "student"),
    ("bob", "student"),
    ("carol", "student"),
]
TOKENS_FILE = "demo-tokens.json"


async def seed_assignments(session: AsyncSession) -> int:
    if await session.scalar(select(func.count()).select_from(Assignment)):
        return 0
    limits = dict(DEFAULT_LIMITS)
    for order, item in enumerate(COURSE, start=1):
        session.add(
            Assignment(
                slug=item.slug,
                title=item.title,
                handout=item.handout,
                position=order,
                points=item.points,
                test_code=item.test_code,
                io_cases=[],
                limits=limits,
                reference_solution=item.reference_solution,
                test_version=test_version(item.test_code, [], limits),
            )
        )
    await session.flush()
    await offer(session)  # to any cohort there already is
    return len(COURSE)


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
