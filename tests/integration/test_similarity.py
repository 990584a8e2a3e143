"""Similarity reports (issue #13) against the real stack: planted copies outrank independent solutions and the
starter code alone makes no pair, a report survives its worker being killed with the same result, instructors of
the cohort (and nobody else) read, review, export and cancel, and students are not told about the result cache."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid

import pytest

from gradeflow.accounts import add_cohort
from gradeflow.launch.synthetic import Answer, disguise, similarity_corpus, synthetic_cohort
from tests.conftest import Stack, wait_for
from tests.similarity_samples import INDEPENDENT, ORIGINAL, RENAMED, STARTER, STARTER_ONLY

pytestmark = pytest.mark.integration


def teach_new_assignment(stack: Stack, starter: str) -> tuple[str, str, int]:
    """A new cohort, its instructor, and an assignment offered to it with starter code."""
    slug = f"sim-{uuid.uuid4().hex[:8]}"
    stack.db(lambda session: add_cohort(session, slug))
    teacher = stack.new_user(role="instructor", cohort=slug)
    with stack.client(teacher) as c:
        r = c.post(
            "/assignments",
            json={
                "title": f"Word stats {slug}",
                "starter_code": starter,
                "test_code": "import unittest\n\nclass T(unittest.TestCase):\n"
                "    def test_runs(self):\n        import solution\n",
            },
        )
    assert r.status_code == 201, r.text
    assert r.json()["starter_code"] == starter
    return slug, teacher, r.json()["id"]


def seed(stack: Stack, slug: str, assignment: int, codes: list[str]) -> list[str]:
    """Each student i's latest submission is codes[i]; returns the students' names in order."""
    answers = {assignment: [Answer(code, True, 100.0) for code in codes]}
    stack.db(lambda session: synthetic_cohort(session, slug, len(codes), answers))
    return [f"{slug}-student-{i:06d}" for i in range(len(codes))]


def start(stack: Stack, teacher: str, slug: str, assignment: int) -> dict:
    with stack.client(teacher) as c:
        r = c.post("/similarity/reports", json={"cohort": slug, "assignment_id": assignment})
    assert r.status_code == 202, r.text
    return r.json()


def finished(stack: Stack, teacher: str, report_id: str, timeout: float = 120) -> dict:
    def done():
        with stack.client(teacher) as c:
            body = c.get(f"/similarity/reports/{report_id}", params={"pairs": 1000}).json()
        return body["status"] in ("completed", "failed", "cancelled") and body

    return wait_for(done, timeout, f"similarity report {report_id} to finish", interval=0.2)


def similarity_of(report: dict) -> dict[frozenset, float]:
    return {frozenset((p["a_student"], p["b_student"])): p["similarity"] for p in report["pairs"]}


def test_planted_copies_rank_above_independent_solutions_and_the_starter_code_is_no_evidence(
    stack: Stack,
):
    slug, teacher, assignment = teach_new_assignment(stack, STARTER)
    reordered = disguise(ORIGINAL, random.Random(4))
    codes = [STARTER + c for c in [ORIGINAL, RENAMED, reordered, *INDEPENDENT, *STARTER_ONLY]]
    names = seed(stack, slug, assignment, codes)
    report = finished(stack, teacher, start(stack, teacher, slug, assignment)["id"])
    assert report["status"] == "completed" and report["total"] == len(codes), report
    assert report["fingerprinted"] == len(codes) and report["newer"] == 0

    scores = similarity_of(report)
    planted = {frozenset((names[a], names[b])) for a, b in [(0, 1), (0, 2), (1, 2)]}
    others = [
        scores.get(frozenset((x, y)), 0.0)
        for i, x in enumerate(names)
        for y in names[i + 1 :]
        if frozenset((x, y)) not in planted
    ]
    assert min(scores[p] for p in planted) > max(others), (scores, others)
    assert {frozenset((p["a_student"], p["b_student"])) for p in report["pairs"][:3]} == planted
    starter_pair = frozenset(names[-2:])
    assert scores.get(starter_pair, 0.0) < 0.1, "the starter code they share is not evidence"

    with stack.client(teacher) as c:
        top = c.get(f"/similarity/reports/{report['id']}/pairs/1").json()
        assert {top["a_student"], top["b_student"]} <= set(names[:3])
        assert top["a_code"].startswith("import sys") and top["fragments"]
        a_lines, b_lines = len(top["a_code"].splitlines()), len(top["b_code"].splitlines())
        for f in top["fragments"]:
            assert 1 <= f["a"][0] <= f["a"][1] <= a_lines and 1 <= f["b"][0] <= f["b"][1] <= b_lines
        assert top["longest_lines"] >= 5
        starter_end = len(STARTER.splitlines())
        assert all(f["a"][1] > starter_end for f in top["fragments"]), "no fragment in the starter"

        flagged = c.put(
            f"/similarity/reports/{report['id']}/pairs/1/review",
            json={"review": "flagged", "note": "same structure, renamed"},
        ).json()
        assert (flagged["review"], flagged["note"]) == ("flagged", "same structure, renamed")
        csv = c.get(f"/similarity/reports/{report['id']}/export")
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert lines[0].startswith("rank,similarity,student_a,student_b")
        assert len(lines) == 1 + len(report["pairs"]) and "flagged" in lines[1]
        assert c.post(f"/similarity/reports/{report['id']}/cancel").status_code == 409

    # A later submission makes the report out of date, and a new report keeps the review.
    late = stack.new_user(cohort=slug)
    with stack.client(late) as c:
        sent = c.post(f"/assignments/{assignment}/submissions", json={"code": codes[3]})
    assert sent.status_code in (201, 202), sent.text
    stack.wait_graded(late, sent.json()["id"])
    with stack.client(teacher) as c:
        assert c.get(f"/similarity/reports/{report['id']}").json()["newer"] == 1
        listed = c.get("/similarity/reports", params={"cohort": slug}).json()
        assert [r["id"] for r in listed] == [report["id"]]
    again = finished(stack, teacher, start(stack, teacher, slug, assignment)["id"])
    assert again["total"] == len(codes) + 1
    kept = next(p for p in again["pairs"] if p["rank"] == 1)
    assert kept["review"] == "flagged"


def test_a_report_whose_worker_is_killed_completes_with_the_same_result(stack: Stack):
    slug, teacher, assignment = teach_new_assignment(stack, "")
    codes, planted = similarity_corpus(1500, 30, seed=21)
    names = seed(stack, slug, assignment, codes)
    report = start(stack, teacher, slug, assignment)

    def progress():
        with stack.client(teacher) as c:
            body = c.get(f"/similarity/reports/{report['id']}", params={"pairs": 0}).json()
        return body["fingerprinted"] >= 250 and body

    during = wait_for(progress, 120, "the report to fingerprint its first page", interval=0.05)
    assert during["status"] == "running" and during["fingerprinted"] < during["total"]
    stack.worker.kill()
    stack.worker.start()
    killed = finished(stack, teacher, report["id"], timeout=240)
    assert killed["status"] == "completed" and killed["fingerprinted"] == 1500

    fresh = finished(stack, teacher, start(stack, teacher, slug, assignment)["id"])
    assert [(p["a_submission"], p["b_submission"], p["similarity"]) for p in killed["pairs"]] == [
        (p["a_submission"], p["b_submission"], p["similarity"]) for p in fresh["pairs"]
    ]
    top = {frozenset((p["a_student"], p["b_student"])) for p in killed["pairs"][: len(planted)]}
    assert top == {frozenset((names[a], names[b])) for a, b in planted}


def test_only_the_cohorts_instructors_reach_its_reports(stack: Stack):
    slug, teacher, assignment = teach_new_assignment(stack, STARTER)
    seed(stack, slug, assignment, [STARTER + ORIGINAL, STARTER + RENAMED])
    report = finished(stack, teacher, start(stack, teacher, slug, assignment)["id"])
    assert len(report["pairs"]) == 1
    rid = report["id"]
    student = stack.new_user(cohort=slug)
    other_teacher = stack.new_user(role="instructor", cohort="demo")
    operator = stack.tokens["otto"]
    calls = [
        ("POST", "/similarity/reports", {"cohort": slug, "assignment_id": assignment}),
        ("GET", f"/similarity/reports?cohort={slug}", None),
        ("GET", f"/similarity/reports/{rid}", None),
        ("GET", f"/similarity/reports/{rid}/export", None),
        ("GET", f"/similarity/reports/{rid}/pairs/1", None),
        ("PUT", f"/similarity/reports/{rid}/pairs/1/review", {"review": "dismissed", "note": ""}),
        ("POST", f"/similarity/reports/{rid}/cancel", None),
    ]
    for who in (student, other_teacher, operator):
        with stack.client(who) as c:
            for method, path, body in calls:
                r = c.request(method, path, json=body)
                assert r.status_code == 403, (method, path, r.status_code, r.text)
    with stack.client(teacher) as c:
        assert (
            c.post("/similarity/reports", json={"cohort": "nope", "assignment_id": 1}).status_code
            == 404
        )
        assert c.get(f"/similarity/reports/{uuid.uuid4()}").status_code == 404
        assert c.get("/similarity/reports/not-a-uuid").status_code == 422
        assert c.get(f"/similarity/reports/{rid}/pairs/99").status_code == 404

    # The CLI, as the instructor: a report of its own, the pair printed, every pair saved as CSV.
    out = stack.home / f"{slug}.csv"
    cli = subprocess.run(
        [sys.executable, "-m", "gradeflow", "similarity", slug, "--assignment", str(assignment)]
        + ["--csv", str(out)],
        env={**stack.env, "GRADEFLOW_TOKEN": teacher},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stderr
    assert "2 students compared" in cli.stdout and f"{slug}-student-000000" in cli.stdout, (
        cli.stdout
    )
    assert out.read_text().startswith("rank,similarity,student_a,student_b")
