"""Users that behave like GradeFlow's people, for locust (`make loadtest`, or `locust -f benchmarks/locustfile.py`).

- Student: opens the course page (progress, assignments, their submissions), writes for a while, submits, follows
  the grading over its events stream the way the dashboard does, reads the feedback, and goes on: the next
  assignment after a pass, another try after a failure.
- RushStudent: the same student at a deadline: submits the moment they arrive, then carries on as a Student.
- Instructor: looks at the cohort matrix, and now and then regrades one assignment and watches it finish.
- Operator: the ops pages: problems, metrics, workflows of the cohort, one grading's history.

Submit -> result is recorded as its own entry ("GRADING", "submit -> result"). Who is who comes from a JSON file
named by GRADEFLOW_LOADTEST_USERS (written by `python -m benchmarks.loadtest`): {"students": [token, ...],
"instructors": [...], "operators": [...], "cohort": slug, "assignments": [id, ...]}. The load shape is chosen by
GRADEFLOW_LOADTEST_SHAPE: "steady" or "rush" (see DeadlineShape).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid

from locust import FastHttpUser, LoadTestShape, between, events, task

from gradeflow.vocabulary import BATCH_ENDED, FINAL_STATUSES

API = "/api/v1"


def _load_users() -> dict:
    path = os.environ.get("GRADEFLOW_LOADTEST_USERS")
    if not path:
        raise SystemExit(
            "GRADEFLOW_LOADTEST_USERS must name the users file (python -m benchmarks.loadtest writes one)"
        )
    with open(path) as f:
        return json.load(f)


USERS = _load_users()
_tokens = {kind: itertools.cycle(USERS[kind]) for kind in ("students", "instructors", "operators")}

# Answers a student might give, right or wrong, for the demo course's first assignments (by slug).
ANSWERS = {
    "hello": ["def hello():\n    return 'Hello'\n", "def hello():\n    return 'Hi'\n"],
    "hello-world": [
        "def hello():\n    return 'Hello world!'\n",
        "def hello():\n    return 'Hello world'\n",
    ],
    "sum": ["def sum(a, b):\n    return a + b\n", "def sum(a, b):\n    return a - b\n"],
}


def answer(slug: str, right: bool) -> str:
    options = ANSWERS.get(slug, ["def solve():\n    return None\n"])
    # Every student's code differs (a comment), as real code does: the result cache must not answer for them.
    return f"# {uuid.uuid4().hex[:12]}\n" + options[0 if right or len(options) == 1 else 1]


class GradeflowUser(FastHttpUser):
    abstract = True
    kind = "students"
    connection_timeout = 30
    network_timeout = 120

    def on_start(self) -> None:
        self.token = next(_tokens[self.kind])
        self.auth = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, name: str | None = None, **kwargs):
        return self.client.get(API + path, headers=self.auth, name=name or path, **kwargs)


class Student(GradeflowUser):
    weight = 10
    wait_time = between(5, 20)  # reading the feedback, writing the next attempt

    def on_start(self) -> None:
        super().on_start()
        self.open_page()

    def open_page(self) -> None:
        progress = self.get("/me/progress").json()
        assignments = self.get("/assignments").json()
        self.assignments = {a["id"]: a["slug"] for a in assignments}
        upcoming = progress.get("next_assignment") or assignments[0]
        self.current = upcoming["id"]
        self.get(f"/me/submissions?assignment_id={self.current}&limit=20", name="/me/submissions")

    @task
    def attempt(self) -> None:
        right = random.random() < 0.6
        self.submit_and_follow(self.current, answer(self.assignments.get(self.current, ""), right))

    def submit_and_follow(self, assignment_id: int, code: str) -> None:
        started = time.perf_counter()
        with self.client.post(
            f"{API}/assignments/{assignment_id}/submissions",
            json={"code": code},
            headers=self.auth,
            name="/assignments/{id}/submissions",
            catch_response=True,
        ) as response:
            if response.status_code == 409:  # the page shows the pending one and follows it
                response.success()
                sub_id = response.json()["pending_submission_id"]
            elif response.status_code == 429:  # too quick: the student waits, as the message says
                response.success()
                return
            elif response.status_code in (201, 202):
                sub_id = response.json()["id"]
            else:
                response.failure(f"submit answered {response.status_code}: {response.text[:200]}")
                return
        result = self.follow(sub_id)
        if result is None:
            return
        events.request.fire(
            request_type="GRADING",
            name="submit -> result",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None,
            context={},
        )
        if result.get("passed"):
            self.open_page()  # on to the next assignment, as the dashboard's "Next" does

    def follow(self, sub_id: str) -> dict | None:
        """Read the submission's events stream until its final status, as the dashboard does."""
        with self.client.get(
            f"{API}/submissions/{sub_id}/events",
            headers=self.auth,
            stream=True,
            name="/submissions/{id}/events",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"events answered {response.status_code}")
                return None
            last = None
            while True:
                line = response.stream.readline(b"\n")  # the default separator is CRLF
                if not line:
                    break
                if line.startswith(b"data:"):
                    last = json.loads(line[5:])
                    if last["status"] in FINAL_STATUSES:
                        break
            if last is None or last["status"] not in FINAL_STATUSES:
                response.failure("the events stream ended before a final status")
                return None
            response.success()
        # The page re-reads it when final
        self.get(f"/submissions/{sub_id}", name="/submissions/{id}")
        return last


class RushStudent(Student):
    """A student at the deadline: their first submission goes out the moment they arrive."""

    weight = 1  # only the rush shape starts them (DeadlineShape names the classes of each phase)

    def on_start(self) -> None:
        GradeflowUser.on_start(self)
        self.open_page()
        self.attempt()


class Instructor(GradeflowUser):
    kind = "instructors"
    fixed_count = int(os.environ.get("GRADEFLOW_LOADTEST_INSTRUCTORS", "2"))
    wait_time = between(10, 30)

    @task(5)
    def cohort_matrix(self) -> None:
        self.get("/cohorts")
        self.get(f"/cohorts/{USERS['cohort']}/matrix", name="/cohorts/{slug}/matrix")

    @task(1)
    def regrade_one_assignment(self) -> None:
        assignment = random.choice(USERS["assignments"])
        with self.client.post(
            f"{API}/regrades",
            json={"cohort": USERS["cohort"], "assignment_id": assignment},
            headers=self.auth,
            name="/regrades",
            catch_response=True,
        ) as response:
            if response.status_code == 409:  # one is running already: watch that one instead
                response.success()
                return
            if response.status_code != 202:
                response.failure(f"regrade answered {response.status_code}: {response.text[:200]}")
                return
            batch = response.json()
        deadline = time.monotonic() + 300
        while batch["status"] not in BATCH_ENDED and time.monotonic() < deadline:
            time.sleep(2)
            batch = self.get(f"/regrades/{batch['id']}", name="/regrades/{id}").json()
        self.get(f"/regrades/{batch['id']}/changes", name="/regrades/{id}/changes")


class Operator(GradeflowUser):
    kind = "operators"
    fixed_count = int(os.environ.get("GRADEFLOW_LOADTEST_OPERATORS", "1"))
    wait_time = between(10, 30)

    @task
    def ops_pages(self) -> None:
        self.get("/ops/problems")
        self.get("/ops/metrics?minutes=15", name="/ops/metrics")
        found = self.get(
            f"/ops/workflows?cohort={USERS['cohort']}&limit=20", name="/ops/workflows"
        ).json()
        if found:
            self.get(f"/ops/workflows/{found[0]['workflow_id']}", name="/ops/workflows/{id}")


class DeadlineShape(LoadTestShape):
    """steady: STUDENTS students, INSTRUCTORS instructors and OPERATORS operators for DURATION seconds.
    rush: the same, and a third of the way in RUSH more students arrive within RUSH_SECONDS and submit at once.
    All from GRADEFLOW_LOADTEST_* environment variables (python -m benchmarks.loadtest sets them)."""

    def __init__(self) -> None:
        super().__init__()
        env = os.environ
        self.shape = env.get("GRADEFLOW_LOADTEST_SHAPE", "steady")
        self.students = int(env.get("GRADEFLOW_LOADTEST_STUDENTS", "50"))
        self.staff = (Instructor.fixed_count, Operator.fixed_count)
        self.rush = int(env.get("GRADEFLOW_LOADTEST_RUSH", "0")) if self.shape == "rush" else 0
        self.rush_seconds = float(env.get("GRADEFLOW_LOADTEST_RUSH_SECONDS", "3"))
        self.duration = float(env.get("GRADEFLOW_LOADTEST_DURATION", "60"))

    def tick(self):
        elapsed = self.get_run_time()
        if elapsed > self.duration:
            return None
        base = self.students + sum(self.staff)
        if self.rush and elapsed >= self.duration / 3:
            # The rush arrives on top of the steady users; locust spawns only the classes given here.
            return base + self.rush, max(1.0, self.rush / self.rush_seconds), [RushStudent]
        return base, max(1.0, base / 5), [Student, Instructor, Operator]
