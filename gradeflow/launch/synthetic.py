"""Synthetic cohorts: many students with known right and wrong submissions, for trying regrades, tests and the
benchmark (`gradeflow demo-cohort SLUG --students N`)."""

from __future__ import annotations

import keyword
import random
import re
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
from gradeflow.vocabulary import Role, SubmissionStatus, Verdict

BATCH = 1000


@dataclass(frozen=True)
class Answer:
    """A submission some students make: its code and the score it was graded with."""

    code: str
    passed: bool
    score: float


async def synthetic_students(
    session: AsyncSession, slug: str, students: int, prefix: str = Role.STUDENT
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
                "role": Role.STUDENT,
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
                "role": Role.STUDENT,
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
                    "status": SubmissionStatus.GRADED,
                    "passed": answer.passed,
                    "score": answer.score,
                    "max_score": float(points[assignment_id]),
                    "verdict": Verdict.PASSED if answer.passed else Verdict.WRONG_ANSWER,
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


# --- code corpora for similarity reports: independent programs, and copies disguised the usual ways ----------------

_OPS = ["+", "-", "*", "//", "%"]
_CMP = ["<", ">", "<=", ">=", "==", "!="]
_CALLS = ["len", "abs", "min", "max", "sum", "sorted", "str", "int"]


def _expression(rng: random.Random, names: list[str], depth: int = 0) -> str:
    pick = rng.random()
    if depth > 1 or pick < 0.3:
        return rng.choice(names) if rng.random() < 0.7 else str(rng.randint(0, 99))
    if pick < 0.6:
        a, b = _expression(rng, names, depth + 1), _expression(rng, names, depth + 1)
        return f"({a} {rng.choice(_OPS)} {b})"
    if pick < 0.8:
        return f"{rng.choice(_CALLS)}([{_expression(rng, names, depth + 1)}])"
    return (
        f"{rng.choice(names)}[{rng.randint(0, 3)}]"
        if rng.random() < 0.5
        else f"-{rng.choice(names)}"
    )


def _statements(rng: random.Random, names: list[str], indent: int, budget: int) -> list[str]:
    pad = "    " * indent
    lines: list[str] = []
    while budget > 0:
        kind = rng.random()
        if kind < 0.35 or indent > 2:
            target = rng.choice(names)
            lines.append(f"{pad}{target} = {_expression(rng, names)}")
            budget -= 1
        elif kind < 0.55:
            loop = f"i{indent}"
            lines.append(f"{pad}for {loop} in range({_expression(rng, names)}):")
            lines += _statements(
                rng, [*names, loop], indent + 1, max(1, min(budget - 1, rng.randint(1, 3)))
            )
            budget -= 3
        elif kind < 0.75:
            test = f"{_expression(rng, names)} {rng.choice(_CMP)} {_expression(rng, names)}"
            lines.append(f"{pad}if {test}:")
            lines += _statements(rng, names, indent + 1, max(1, min(budget - 1, rng.randint(1, 2))))
            if rng.random() < 0.5:
                lines.append(f"{pad}else:")
                lines += _statements(rng, names, indent + 1, 1)
            budget -= 3
        elif kind < 0.85:
            lines.append(f"{pad}while {rng.choice(names)} {rng.choice(_CMP)} {rng.randint(1, 50)}:")
            target = rng.choice(names)
            lines.append(f"{pad}    {target} = {target} {rng.choice(['+', '-'])} 1")
            budget -= 2
        else:
            lines.append(f"{pad}{rng.choice(names)}.append({_expression(rng, names)})")
            budget -= 1
    return lines


def random_program(rng: random.Random, functions: int = 4, size: int = 8) -> str:
    """An independent program: `functions` functions of about `size` statements each, structure drawn at random."""
    parts = []
    for f in range(functions):
        args = [f"a{f}{k}" for k in range(rng.randint(1, 3))]
        names = [*args, f"x{f}", f"y{f}", f"acc{f}"]
        body = [f"    x{f} = 0", f"    y{f} = 1", f"    acc{f} = []"]
        body += _statements(rng, names, 1, size)
        body.append(f"    return {_expression(rng, names)}")
        parts.append(f"def func_{f}_{rng.randint(0, 999)}({', '.join(args)}):\n" + "\n".join(body))
    return "\n\n\n".join(parts) + "\n"


def disguise(code: str, rng: random.Random) -> str:
    """A copy as copies are made: every name renamed, functions reordered, comments and blank lines changed,
    and a dead function added."""
    names = sorted(
        {w for w in re.findall(r"\b[A-Za-z_]\w*\b", code)}
        - set(keyword.kwlist)
        - {"range", *_CALLS, "append"}
    )
    renamed = {n: f"v_{rng.randint(0, 10**6)}_{i}" for i, n in enumerate(names)}
    code = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: renamed.get(m.group(0), m.group(0)), code)
    functions = code.strip("\n").split("\n\n\n")
    rng.shuffle(functions)
    functions.insert(rng.randint(0, len(functions)), "def unused_helper(z):\n    return z * 2")
    commented = [f"# part {i}: my own work\n{f}" for i, f in enumerate(functions)]
    return "\n\n".join(commented) + "\n\n# the end\n"


def similarity_corpus(
    students: int, copies: int, seed: int = 7
) -> tuple[list[str], set[tuple[int, int]]]:
    """Codes for `students` students: independent programs, except that `copies` of them are disguised copies of
    another student's. Returns the codes and the copied pairs (student index, student index), smaller first."""
    rng = random.Random(seed)
    codes = [random_program(rng) for _ in range(students)]
    planted: set[tuple[int, int]] = set()
    copiers = rng.sample(range(students), copies)
    originals = sorted(set(range(students)) - set(copiers))  # a source is never itself overwritten
    for copier in copiers:
        source = rng.choice(originals)
        codes[copier] = disguise(codes[source], rng)
        planted.add((min(source, copier), max(source, copier)))
    return codes, planted
