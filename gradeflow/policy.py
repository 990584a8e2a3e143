"""When a student may submit, and for how much credit: the rules of an assignment's offering to a cohort (release,
due date, late windows each with a credit cap, hard close, submission limits) and the student's extension, decided
by the server's clock. Pure: the API asks it at every submission, the student's page shows what it says.

- Before the release: the assignment does not exist for the student.
- Up to the due date (the extension's, if they have one): full credit.
- After it: the first late window the submission falls in caps its credit (a window ends `hours` after the due date).
  Past the windows but before the close: no credit.
- From the close on (the extension's, else the offering's, else the end of the last window, else the due date):
  refused, with what closed and when.
- At most `max_submissions` counted submissions; at least `min_minutes_between` minutes between two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gradeflow.vocabulary import Verdict


@dataclass(frozen=True)
class Rules:
    release_at: datetime | None = None
    due_at: datetime | None = None
    close_at: datetime | None = None
    late_windows: tuple[tuple[float, float], ...] = ()  # (hours after the due date, credit cap)
    max_submissions: int | None = None
    min_minutes_between: int | None = None
    version: int = 1

    @classmethod
    def of(cls, offering: Any, extension: Any = None) -> Rules:
        """The rules for one student: the offering's, with their extension's dates where they have one (an
        extension without its own close closes when its late windows end)."""
        dates = extension if extension is not None else offering
        return cls(
            release_at=offering.release_at,
            due_at=dates.due_at,
            close_at=dates.close_at,
            late_windows=tuple(
                (float(w["hours"]), float(w["credit"])) for w in offering.late_windows or []
            ),
            max_submissions=offering.max_submissions,
            min_minutes_between=offering.min_minutes_between,
            version=offering.policy_version,
        )

    def closes_at(self) -> datetime | None:
        if self.close_at is not None:
            return self.close_at
        if self.due_at is None:
            return None
        return self.due_at + timedelta(hours=max((h for h, _ in self.late_windows), default=0))

    def released(self, now: datetime) -> bool:
        return self.release_at is None or now >= self.release_at


@dataclass(frozen=True)
class Decision:
    """What the rules say of a submission made `now`: allowed (with its credit) or refused (status, message)."""

    allowed: bool
    status: int = 0
    message: str = ""
    retry_after: int | None = None
    credit: float = 1.0
    late: bool = False
    window: str = "on time"

    def derivation(self, now: datetime, rules: Rules) -> dict[str, Any]:
        return {
            "received_at": now.isoformat(),
            "due_at": rules.due_at.isoformat() if rules.due_at else None,
            "window": self.window,
            "credit": self.credit,
            "policy_version": rules.version,
        }


def score_of(tests: list[dict[str, Any]], max_score: float, credit: float = 1.0) -> float:
    """The score a grading earns: the assignment's points times the share of test points passed (a unittest test
    is worth 1), times the submission's credit cap."""
    total = sum(t.get("points", 1) for t in tests)
    if not total:
        return 0.0
    share = sum(t.get("points", 1) for t in tests if t["passed"]) / total
    return round(max_score * share * credit, 2)


# Verdicts that grade nobody: no score, so no grade moves and no attempt is used (the compiler refused the code,
# or the assignment's tests are broken)
UNGRADED = (Verdict.COMPILE_ERROR, Verdict.TEST_ERROR)


def graded_score(
    verdict: str | None, tests: list[dict[str, Any]], max_score: float, credit: float = 1.0
) -> float | None:
    """score_of, or None for a verdict that grades nobody."""
    return None if verdict in UNGRADED else score_of(tests, max_score, credit)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def decide(
    rules: Rules, now: datetime, used: int = 0, last_at: datetime | None = None, title: str = ""
) -> Decision:
    what = f"'{title}'" if title else "this assignment"
    if not rules.released(now):
        return Decision(False, 404, f"{what} is not open yet.")
    closes = rules.closes_at()
    if closes is not None and now >= closes:
        return Decision(
            False,
            403,
            f"Submissions to {what} closed at {when(closes)}. Ask your instructor for an extension.",
        )
    if rules.max_submissions is not None and used >= rules.max_submissions:
        return Decision(
            False,
            403,
            f"You have used all {rules.max_submissions} submissions to {what}. Your best result counts.",
        )
    if rules.min_minutes_between and last_at is not None:
        wait = last_at + timedelta(minutes=rules.min_minutes_between) - now
        if wait > timedelta(0):
            seconds = int(wait.total_seconds()) + 1
            return Decision(
                False,
                429,
                f"Wait {seconds} s before submitting to {what} again (at most one submission every "
                f"{rules.min_minutes_between} min).",
                retry_after=seconds,
            )
    return credit_at(rules, now)


def credit_at(rules: Rules, received_at: datetime) -> Decision:
    """The credit of a submission received at `received_at` under `rules`, whatever else they say: how a
    submission already accepted is recounted when its terms change (an extension, another late window)."""
    if rules.due_at is None or received_at <= rules.due_at:
        return Decision(True)
    late_by = received_at - rules.due_at
    for hours, credit in rules.late_windows:
        if late_by <= timedelta(hours=hours):
            return Decision(
                True,
                credit=credit,
                late=True,
                window=f"late, within {hours:g} h: {credit:.0%} credit",
            )
    return Decision(True, credit=0.0, late=True, window="late, after every late window: no credit")
