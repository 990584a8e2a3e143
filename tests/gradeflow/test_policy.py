"""The submission rules of an offering, by the clock (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from gradeflow.policy import Rules, decide, score_of

DUE = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
H = timedelta(hours=1)
RULES = Rules(release_at=DUE - 240 * H, due_at=DUE, late_windows=((24, 0.8), (72, 0.5)))


def test_before_release_it_does_not_exist():
    assert decide(RULES, DUE - 241 * H).status == 404


def test_on_time_is_full_credit_up_to_the_due_date():
    for now in (DUE - 100 * H, DUE):
        verdict = decide(RULES, now)
        assert (verdict.allowed, verdict.credit, verdict.late) == (True, 1.0, False)


def test_a_late_window_caps_the_credit():
    assert decide(RULES, DUE + 0.5 * H).credit == 0.8
    assert decide(RULES, DUE + 24 * H).credit == 0.8
    assert decide(RULES, DUE + 25 * H).credit == 0.5
    assert decide(RULES, DUE + 25 * H).late


def test_after_the_last_window_it_is_closed_with_the_time():
    verdict = decide(RULES, DUE + 72 * H, title="Sum")
    assert (verdict.allowed, verdict.status) == (False, 403)
    assert verdict.message == (
        "Submissions to 'Sum' closed at 2026-12-04 17:00 UTC. Ask your instructor for an extension."
    )


def test_a_hard_close_before_the_windows_end_wins():
    rules = Rules(due_at=DUE, close_at=DUE + 2 * H, late_windows=((24, 0.8),))
    assert decide(rules, DUE + H).credit == 0.8
    assert decide(rules, DUE + 2 * H).status == 403


def test_no_window_means_closed_at_the_due_date_and_no_dates_never_close():
    assert decide(Rules(due_at=DUE), DUE + timedelta(seconds=1)).status == 403
    assert decide(Rules(), DUE + 10_000 * H).allowed


def test_past_the_windows_before_the_close_is_no_credit():
    rules = Rules(due_at=DUE, close_at=DUE + 100 * H, late_windows=((24, 0.8),))
    verdict = decide(rules, DUE + 50 * H)
    assert (verdict.allowed, verdict.credit) == (True, 0.0)


def test_an_extension_moves_the_dates_for_one_student():
    offering = SimpleNamespace(
        release_at=None,
        due_at=DUE,
        close_at=DUE,
        late_windows=[],
        max_submissions=None,
        min_minutes_between=None,
        policy_version=3,
    )
    extension = SimpleNamespace(due_at=DUE + 48 * H, close_at=None)
    assert decide(Rules.of(offering), DUE + H).status == 403
    mine = Rules.of(offering, extension)
    verdict = decide(mine, DUE + H)
    assert (verdict.allowed, verdict.credit, mine.version) == (True, 1.0, 3)
    assert verdict.derivation(DUE + H, mine)["due_at"] == (DUE + 48 * H).isoformat()


def test_limits_say_what_to_wait_for():
    rules = Rules(max_submissions=3, min_minutes_between=10)
    assert decide(rules, DUE, used=3).message.startswith("You have used all 3 submissions")
    verdict = decide(rules, DUE, used=1, last_at=DUE - timedelta(minutes=4))
    assert (verdict.status, verdict.retry_after) == (429, 361)
    assert decide(rules, DUE, used=1, last_at=DUE - timedelta(minutes=10)).allowed


# The score a grading earns (moved from tests/activities: it is the policy's)
def test_score_is_the_passed_share_of_test_points():
    tests = [{"passed": True}, {"passed": False}, {"passed": True}, {"passed": True}]
    assert score_of(tests, 100) == 75
    weighted = [{"passed": True, "points": 1}, {"passed": False, "points": 3}]
    assert score_of(weighted, 100) == 25
    assert score_of([{"passed": True}] * 3, 10) == 10


def test_no_tests_and_no_points_score_nothing():
    assert score_of([], 100) == 0
    assert score_of([{"passed": True, "points": 0}], 100) == 0


def test_a_score_is_rounded_to_hundredths():
    assert score_of([{"passed": True}, {"passed": False}, {"passed": False}], 100) == 33.33


def test_the_credit_cap_scales_the_score():
    assert score_of([{"passed": True}, {"passed": False}], 10, credit=0.5) == 2.5
