"""Similarity reports: 500, 1,000 and 2,000 submissions of a mid-size assignment (independent programs of about 70
lines, 2% disguised copies), each report started through the API on a whole stack and followed until it
completes; a second report on the 2,000 shows what fingerprints computed once save; planted copies must rank
first. Cost per submission at each size shows how close to linear the growth is."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime

from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from gradeflow.accounts import add_cohort, add_user
from gradeflow.launch.roles import Stack
from gradeflow.launch.synthetic import Answer, similarity_corpus, synthetic_cohort
from gradeflow.vocabulary import REPORT_ACTIVE, ReportStatus, Role

SIZES = [int(n) for n in os.environ.get("BENCH_SIMILARITY_SIZES", "500,1000,2000").split(",")]
TARGET_SECONDS = 60.0


def cohort(stack: Stack, students: int, seed: int) -> tuple[str, str, int, set[frozenset[str]]]:
    """A cohort of `students` whose latest submissions of assignment 1 are a similarity corpus; its instructor;
    the planted pairs by student name."""
    slug = f"sim-{uuid.uuid4().hex[:6]}"
    codes, planted = similarity_corpus(students, max(1, students // 50), seed=seed)
    stack.db(lambda s: add_cohort(s, slug))
    stack.db(
        lambda s: synthetic_cohort(s, slug, students, {1: [Answer(c, True, 100.0) for c in codes]})
    )
    _, token = stack.db(lambda s: add_user(s, f"teacher-{slug}", Role.INSTRUCTOR, slug))
    names = {frozenset((f"{slug}-student-{a:06d}", f"{slug}-student-{b:06d}")) for a, b in planted}
    return slug, token, 1, names


def report(stack: Stack, token: str, slug: str, assignment: int) -> dict:
    with stack.client(token) as c:
        r = c.post("/similarity/reports", json={"cohort": slug, "assignment_id": assignment})
        assert r.status_code == 202, r.text
        body = r.json()
        while body["status"] in REPORT_ACTIVE:
            time.sleep(0.2)
            body = c.get(f"/similarity/reports/{body['id']}", params={"pairs": 200}).json()
    assert body["status"] == ReportStatus.COMPLETED, body
    seconds = (
        datetime.fromisoformat(body["finished_at"]) - datetime.fromisoformat(body["created_at"])
    ).total_seconds()
    return {**body, "seconds": seconds}


def main() -> None:
    rows = []
    with bench_stack() as stack:
        for n, size in enumerate(SIZES):
            slug, token, assignment, planted = cohort(stack, size, seed=100 + n)
            first = report(stack, token, slug, assignment)
            top = {
                frozenset((p["a_student"], p["b_student"])) for p in first["pairs"][: len(planted)]
            }
            again = report(stack, token, slug, assignment) if size == max(SIZES) else None
            rows.append((size, first, again, top == planted, len(planted)))
            print(
                f"{size}: {first['seconds']:.1f} s, {first['candidates']} candidate pairs, planted first: "
                f"{top == planted}" + (f"; again {again['seconds']:.1f} s" if again else ""),
                flush=True,
            )
    smallest = rows[0]
    table = "\n".join(
        f"| {size:,} | {first['seconds']:.1f} s | {1000 * first['seconds'] / size:.1f} ms | "
        f"{(first['seconds'] / size) / (smallest[1]['seconds'] / smallest[0]):.2f} | "
        f"{first['candidates']:,} of {size * (size - 1) // 2:,} | {planted} of {planted}"
        f"{'' if ok else ' (NOT all first)'} |"
        for size, first, _, ok, planted in rows
    )
    biggest = rows[-1]
    again = biggest[2]
    met = biggest[1]["seconds"] <= TARGET_SECONDS and all(ok for *_, ok, _ in rows)
    body = f"""
## Similarity reports (issue #13)

Command: `make bench` (`python -m benchmarks.similarity`; `BENCH_SIMILARITY_SIZES`). A whole stack started by
the benchmark; per size a cohort whose students' latest submissions of one assignment are independent programs of
about 70 lines (`gradeflow.launch.synthetic.similarity_corpus`), 2% of them disguised copies of another student's
(every name renamed, functions reordered, comments and blank lines changed, a dead function added). Each report
is started through the API and timed from its creation to its completion (fingerprinting every distinct code,
then the candidate pairs through the inverted index).
Machine: {machine()}.

| submissions | report | per submission | cost per submission vs {smallest[0]:,} | pairs scored (of all pairs) | planted copies ranked first |
| ---: | ---: | ---: | ---: | ---: | ---: |
{table}

The same {biggest[0]:,} again (fingerprints already stored, only the pairs recomputed): {again["seconds"]:.1f} s.

Target: 2,000 submissions in <= {TARGET_SECONDS:.0f} s with planted copies first: **{"met" if met else "missed"}**.
"""
    write_section("similarity", body)


if __name__ == "__main__":
    main()
