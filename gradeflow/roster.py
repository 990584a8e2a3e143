"""Rosters: the students (and staff) of a cohort from a CSV file, and the lifecycle of their tokens.

A roster has a header row and one row per person. Columns (case and surrounding spaces ignored):

- `name`: the login name, unique on the deployment (letters, digits, `.`, `_`, `-`, `@`; up to 100);
- `email`, `sis_id`: optional, each unique on the deployment;
- `role`: optional, `student` unless it says `instructor` or `operator`.

Importing is idempotent: a person already on the deployment (same name, or same email or SIS id) is enrolled in
the cohort and their missing email or SIS id filled in; they keep their token. New people get a token, returned
once (it is stored hashed). A roster with any bad row changes nothing, and the error names every bad row.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gradeflow.accounts import NAME_RULE, AccountError, a_role, name_problem
from gradeflow.models import Cohort, Enrollment, SignInSession, User
from gradeflow.tokens import hash_token, new_token
from gradeflow.vocabulary import Role

COLUMNS = ("name", "email", "sis_id", "role")
EMAIL = re.compile(r"[^@\s]{1,200}@[^@\s]{1,200}\.[^@\s]+")
MAX_ROWS = 5000


@dataclass(frozen=True)
class RosterRow:
    line: int
    name: str
    email: str | None
    sis_id: str | None
    role: str


@dataclass
class RosterResult:
    """What an import did: the people created (with their tokens, shown only now), those already on the
    deployment who were enrolled, and those already in the cohort."""

    created: list[tuple[RosterRow, str]] = field(default_factory=list)
    enrolled: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def identities(name: str, email: str | None, sis_id: str | None) -> list[str]:
    """The keys a person is known by; any one of them shared means the same person."""
    return [
        f"{kind}:{value}"
        for kind, value in (("name", name.lower()), ("email", email), ("sis_id", sis_id))
        if value
    ]


def parse(text: str) -> list[RosterRow]:
    """The rows of a roster, or AccountError naming every bad row (line numbers as a spreadsheet shows them)."""
    try:
        return _parse(text)
    except csv.Error as exc:  # e.g. a quote left open: the file is not CSV
        raise AccountError(f"the roster is not valid CSV ({exc})") from None


def _parse(text: str) -> list[RosterRow]:
    # newline="": the csv module reads \r, \n and \r\n line ends itself, as spreadsheets write them
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip().lower() for h in next(reader, [])]
    if "name" not in header:
        raise AccountError(
            f"the roster's first row must name its columns, with at least 'name' (allowed: {', '.join(COLUMNS)})"
        )
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise AccountError(
            f"unknown column(s) {', '.join(repr(h) for h in unknown)}; allowed: {', '.join(COLUMNS)}"
        )
    rows, problems = [], []
    seen: dict[str, int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(header):
            problems.append(f"line {line}: {len(values)} values for {len(header)} columns")
            continue
        cell = {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)}
        name, email, sis_id = cell["name"], cell.get("email") or None, cell.get("sis_id") or None
        role = (cell.get("role") or Role.STUDENT).lower()
        if name_problem(name):
            problems.append(f"line {line}: name {name!r} must be {NAME_RULE}")
        if email is not None and not EMAIL.fullmatch(email):
            problems.append(f"line {line}: {email!r} is not an email address")
        if sis_id is not None and len(sis_id) > 64:
            problems.append(f"line {line}: sis_id is over 64 characters")
        if role not in tuple(Role):
            problems.append(f"line {line}: role must be one of {', '.join(Role)}, not {role!r}")
        email = email.lower() if email else None
        for key in identities(name, email, sis_id):
            if key in seen:
                problems.append(f"line {line}: the same {key.split(':')[0]} as line {seen[key]}")
            seen.setdefault(key, line)
        rows.append(RosterRow(line, name, email, sis_id, role))
    if len(rows) > MAX_ROWS:
        problems.append(f"{len(rows)} people; at most {MAX_ROWS} in one roster (split the file)")
    if problems:
        shown = problems[:20] + (
            [f"... and {len(problems) - 20} more"] if len(problems) > 20 else []
        )
        raise AccountError("the roster has errors, nothing was imported: " + "; ".join(shown))
    if not rows:
        raise AccountError("the roster has a header but nobody in it")
    return rows


async def import_roster(
    session: AsyncSession, cohort: Cohort, rows: list[RosterRow]
) -> RosterResult:
    """Create who is new, enroll everyone in `cohort` (a few statements, whatever the roster's size)."""
    result = RosterResult()
    names = [r.name for r in rows]
    emails = [r.email for r in rows if r.email]
    sis_ids = [r.sis_id for r in rows if r.sis_id]
    existing = (
        await session.execute(
            select(User).where(
                or_(User.name.in_(names), User.email.in_(emails), User.sis_id.in_(sis_ids))
            )
        )
    ).scalars()
    by_key = {
        key: user for user in existing for key in identities(user.name, user.email, user.sis_id)
    }
    members = set(
        (
            await session.execute(
                select(Enrollment.user_id).where(Enrollment.cohort_id == cohort.id)
            )
        ).scalars()
    )
    new_rows, enroll = [], []
    for row in rows:
        matches = {
            by_key[k].id: by_key[k]
            for k in identities(row.name, row.email, row.sis_id)
            if k in by_key
        }
        if len(matches) > 1:
            raise AccountError(
                f"line {row.line}: name, email and sis_id belong to different people already "
                f"({', '.join(sorted(u.name for u in matches.values()))}); nothing was imported"
            )
        if not matches:
            new_rows.append(row)
            continue
        (user,) = matches.values()
        if user.role != row.role:
            raise AccountError(
                f"line {row.line}: {user.name} is {a_role(user.role)} already, not {a_role(row.role)}; "
                "nothing was imported"
            )
        if row.email and not user.email:
            user.email = row.email
        if row.sis_id and not user.sis_id:
            user.sis_id = row.sis_id
        if user.id in members:
            result.already.append(user.name)
        else:
            enroll.append(user.id)
            members.add(user.id)
            result.enrolled.append(user.name)
    if new_rows:
        tokens = [new_token() for _ in new_rows]
        created_ids = (
            (
                await session.execute(
                    insert(User).returning(User.id),
                    [
                        {
                            "name": r.name,
                            "role": r.role,
                            "email": r.email,
                            "sis_id": r.sis_id,
                            "token_hash": hash_token(t),
                        }
                        for r, t in zip(new_rows, tokens, strict=True)
                    ],
                )
            )
            .scalars()
            .all()
        )
        enroll += created_ids
        result.created = list(zip(new_rows, tokens, strict=True))
    if enroll:
        await session.execute(
            pg_insert(Enrollment).on_conflict_do_nothing(),
            [{"user_id": uid, "cohort_id": cohort.id} for uid in enroll],
        )
    await session.flush()
    return result


async def revoke(session: AsyncSession, user: User) -> str:
    """Make the user's token stop working; returns the hash it had (for API caches to forget it). The stored hash
    becomes that of a token nobody was given."""
    old = user.token_hash
    await session.execute(
        update(User)
        .where(User.id == user.id)
        .values(token_hash=hash_token(new_token()), revoked_at=datetime.now(UTC))
    )
    # And every browser signed in through an LMS
    await session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
    return old


async def rotate(session: AsyncSession, user: User) -> tuple[str, str]:
    """A new token for the user (the old one stops working); returns (the old hash, the new token)."""
    old, token = user.token_hash, new_token()
    await session.execute(
        update(User).where(User.id == user.id).values(token_hash=hash_token(token), revoked_at=None)
    )
    return old, token
