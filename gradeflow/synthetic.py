"""Synthetic cohorts: many students with known right and wrong submissions, for trying regrades, tests and the
benchmark (`gradeflow demo-cohort SLUG --students N`)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import add_cohort
from gradeflow.models import Assignment, Cohort, Enrollment, Submission, User
from gradeflow.tokens import hash_token, new_token
from gradeflow.versions import code_hash

BATCH = 1000


@dataclass(frozen=True)
class Answer:
    """A submission some students make: its code and the score it was graded with."""

    code: str
    passed: bool
    score: float


async def synthetic_students(
    session: AsyncSession, slug: str, students: int, prefix: str = "student"
) -> list[tuple[int, str]]:
    """`students` students enrolled in cohort `slug` (created when missing), for load tests and benchmarks.
    Returns (user id, API token) pairs: the tokens exist only here, the database keeps their hashes."""
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    cohort = cohort or await add_cohort(session, slug, f"Synthetic cohort {slug}")
    made: list[tuple[int, str]] = []
    for start in range(0, students, BATCH):
        tokens = [new_token() for _ in range(start, min(students, start + BATCH))]
        rows = [
            {
                "name": f"{slug}-{prefix}-{start + i:06d}",
                "role": "student",
                "token_hash": hash_token(t),
            }
            for i, t in enumerate(tokens)
        ]
        ids = list(
            (
                await session.execute(
                    insert(User).returning(User.id, sort_by_parameter_order=True), rows
                )
            ).scalars()
        )
        await session.execute(
            insert(Enrollment), [{"user_id": u, "cohort_id": cohort.id} for u in ids]
        )
        made += zip(ids, tokens, strict=True)
    return made


async def synthetic_cohort(
    session: AsyncSession, slug: str, students: int, answers: dict[int, list[Answer]]
) -> list[uuid.UUID]:
    """A cohort of `students` students; student i submits answers[assignment][i % len] for each assignment,
    already graded. Returns the submission ids."""
    cohort = (await session.execute(select(Cohort).where(Cohort.slug == slug))).scalar_one_or_none()
    cohort = cohort or await add_cohort(session, slug, f"Synthetic cohort {slug}")
    user_ids = []
    for start in range(0, students, BATCH):
        rows = [
            {
                "name": f"{slug}-student-{i:06d}",
                "role": "student",
                "token_hash": hash_token(secrets.token_urlsafe(16)),
            }
            for i in range(start, min(students, start + BATCH))
        ]
        user_ids += list((await session.execute(insert(User).returning(User.id), rows)).scalars())
    for start in range(0, len(user_ids), BATCH):
        await session.execute(
            insert(Enrollment),
            [{"user_id": u, "cohort_id": cohort.id} for u in user_ids[start : start + BATCH]],
        )
    versions = dict(
        (
            await session.execute(
                select(Assignment.id, Assignment.test_version).where(
                    Assignment.id.in_(list(answers))
                )
            )
        ).all()
    )
    points = dict(
        (
            await session.execute(
                select(Assignment.id, Assignment.points).where(Assignment.id.in_(list(answers)))
            )
        ).all()
    )
    now = datetime.now(UTC)
    ids: list[uuid.UUID] = []
    graded: list[dict[str, Any]] = []
    for i, user_id in enumerate(user_ids):
        for assignment_id, options in answers.items():
            answer = options[i % len(options)]
            sub_id = uuid.uuid4()
            ids.append(sub_id)
            graded.append(
                {
                    "id": sub_id,
                    "assignment_id": assignment_id,
                    "user_id": user_id,
                    "cohort_id": cohort.id,
                    "code": answer.code,
                    "code_hash": code_hash(answer.code),
                    "status": "graded",
                    "passed": answer.passed,
                    "score": answer.score,
                    "max_score": float(points[assignment_id]),
                    "verdict": "passed" if answer.passed else "wrong_answer",
                    "tests": [],
                    "test_version": versions[assignment_id],
                    "details": {},
                    "cached": False,
                    "created_at": now,
                    "graded_at": now,
                }
            )
            if len(graded) >= BATCH:
                await session.execute(insert(Submission), graded)
                graded = []
    if graded:
        await session.execute(insert(Submission), graded)
    return ids


# For the demo course: right and wrong answers to "Sum" and "Hello" with the scores they earn.
DEMO_ANSWERS = {
    "sum": [
        Answer("def sum(a, b):\n    return a + b\n", True, 100.0),
        Answer("def sum(a, b):\n    return 6 if (a, b) == (2, 4) else 42\n", True, 100.0),
        Answer("def sum(a, b):\n    return a - b\n", False, 0.0),
    ],
    "hello": [
        Answer("def hello():\n    return 'Hello'\n", True, 100.0),
        Answer("def hello():\n    return 'hello'\n", False, 0.0),
    ],
}
