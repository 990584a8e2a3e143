"""LTI 1.3 against a real LMS flow, offline: the test LMS (tests/lti/lms.py) initiates logins, signs launches and
keeps line items; GradeFlow checks each launch fully. An instructor deep-links an assignment; a student launched
from the link lands on it signed in and submits; every forged or replayed launch is refused with a page that says
why, and leaves no user, cohort or sign-in behind."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import Stack, run_async, wait_for
from tests.integration.test_roster import gradeflow
from tests.integration.test_submission_path import RIGHT_HELLO, unique
from tests.lti.lms import Lms, new_private_key

pytestmark = pytest.mark.integration


def register(stack: Stack, lms: Lms, name: str) -> None:
    lms.tool_login_url = f"{stack.api_url}/lti/login"
    lms.tool_jwks_url = f"{stack.api_url}/lti/jwks"
    with stack.client(stack.tokens["otto"]) as ops:
        added = ops.post("/lti/platforms", json=lms.registration(name))
    assert added.status_code == 201, added.text


@pytest.fixture(scope="module")
def lms(stack: Stack) -> Iterator[Lms]:
    platform = Lms().start()
    register(stack, platform, f"test-lms-{uuid.uuid4().hex[:6]}")
    yield platform
    platform.stop()


def form_of(page: str) -> tuple[str, dict[str, str]]:
    """The action and hidden fields of the page's form (what a browser posts)."""
    action = unescape(re.search(r'action="([^"]+)"', page).group(1))
    fields = {
        unescape(name): unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }
    return action, fields


def launch(
    start_url: str, browser: httpx.Client | None = None
) -> tuple[httpx.Response, httpx.Client, tuple]:
    """Follow an LMS link as a browser does, up to GradeFlow's answer to the launch."""
    browser = browser or httpx.Client(timeout=30)
    to_tool = browser.get(start_url)
    assert to_tool.status_code == 302, to_tool.text
    to_lms = browser.get(to_tool.headers["location"])
    assert to_lms.status_code == 302, to_lms.text
    signed = browser.get(to_lms.headers["location"])
    assert signed.status_code == 200, signed.text
    action, fields = form_of(signed.text)
    return browser.post(action, data=fields), browser, (action, fields)


def signed_in(stack: Stack, landed: httpx.Response) -> tuple[str, str]:
    """The dashboard's side of a launch: the one-time code taken for the browser's token, and where it lands."""
    assert landed.status_code == 303, landed.text
    location = urlsplit(landed.headers["location"])
    assert location.path == "/gradeflow/lti"
    code = parse_qs(location.query)["code"][0]
    with stack.client() as c:
        taken = c.post("/lti/sessions", json={"code": code})
        again = c.post("/lti/sessions", json={"code": code})
    assert taken.status_code == 200, taken.text
    assert again.status_code == 404 and "open the link in the LMS again" in again.json()["detail"]
    return taken.json()["token"], taken.json()["next"]


def counts(stack: Stack, lms: Lms, course: str) -> tuple[int, int, int]:
    """(people of this LMS, its courses named `course`, sign-ins) now."""
    return (
        stack.sql(
            "SELECT count(*) FROM lti_identities i JOIN lti_platforms p ON p.id = i.platform_id "
            "WHERE p.issuer = :iss",
            iss=lms.issuer,
        )[0][0],
        stack.sql("SELECT count(*) FROM lti_contexts WHERE context_id = :c", c=course)[0][0],
        stack.sql("SELECT count(*) FROM sign_in_sessions")[0][0],
    )


def deep_link(stack: Stack, lms: Lms, teacher, course: str, title: str) -> dict:
    """The instructor adds GradeFlow in the LMS and picks the assignment titled `title`; the link the LMS made."""
    picker, browser, _ = launch(lms.prepare(teacher, course, message="LtiDeepLinkingRequest"))
    assert picker.status_code == 200, picker.text
    assert title in picker.text
    launch_id = re.search(r'name="launch" value="([^"]+)"', picker.text).group(1)
    aid = re.search(r'value="(\d+)">' + re.escape(title) + "<", picker.text).group(1)
    chosen = browser.post(
        f"{stack.api_url}/lti/deep-linking/choose", data={"launch": launch_id, "assignment": aid}
    )
    assert chosen.status_code == 200, chosen.text
    action, fields = form_of(chosen.text)
    returned = browser.post(action, data=fields)
    assert returned.status_code == 200 and title in returned.text
    return lms.made_links[0]


def test_a_student_launched_from_a_deep_linked_assignment_lands_on_it_signed_in_and_submits(
    stack: Stack, lms: Lms
):
    course = f"cs1-{uuid.uuid4().hex[:6]}"
    teacher = lms.person("teacher", instructor=True)
    made = deep_link(stack, lms, teacher, course, "Hello")
    item = next(i for i in lms.line_items.values() if i["resourceLinkId"] == made["link"])
    assert (item["label"], item["scoreMaximum"]) == ("Hello", 100)

    student = lms.person("sam")
    landed, _, _ = launch(lms.prepare(student, course, link=made["link"], custom=made["custom"]))
    token, landing = signed_in(stack, landed)
    assert landing == "?assignment=hello"
    with stack.client(token) as c:
        me = c.get("/me").json()
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
    assert (
        me["role"] == "student"
        and me["cohort"]
        == stack.sql(
            "SELECT c.slug FROM cohorts c JOIN lti_contexts x ON x.cohort_id = c.id WHERE x.context_id = :c",
            c=course,
        )[0][0]
    )
    assert sub.status_code == 202, sub.text
    assert stack.wait_graded(token, sub.json()["id"])["verdict"] == "passed"
    # The instructor was made staff of the same cohort; a second launch finds the same person
    again, _, _ = launch(lms.prepare(student, course, link=made["link"]))
    second, _ = signed_in(stack, again)
    with stack.client(second) as c:
        assert c.get("/me").json()["name"] == me["name"]
    people = stack.sql("SELECT count(*) FROM lti_identities WHERE sub = :s", s=student.sub)[0][0]
    assert people == 1


# Each forgery, and words of the page that refuses it
NEGATIVE = {
    "wrong issuer": (
        lambda: {"claims": {"iss": "https://lms.elsewhere.example"}},
        "not registered with GradeFlow",
    ),
    "unknown deployment": (
        lambda: {"claims": {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "nope"}},
        "deployment of GradeFlow in the LMS is not registered",
    ),
    "expired": (
        lambda: {"claims": {"exp": int(time.time()) - 60, "iat": int(time.time()) - 400}},
        "has expired",
    ),
    "no expiry": (lambda: {"drop": ["exp"]}, "lacks its &#x27;exp&#x27; claim"),
    "unsigned": (lambda: {"unsigned": True}, "not a signed LTI message"),
    "bad signature": (
        lambda: {"key": new_private_key()[0]},
        "signature does not match the LMS",
    ),
}


@pytest.mark.parametrize("case", list(NEGATIVE))
def test_a_forged_launch_is_refused_with_a_page_and_leaves_nothing(
    stack: Stack, lms: Lms, case: str
):
    course = f"forged-{uuid.uuid4().hex[:6]}"
    before = counts(stack, lms, course)
    tamper, words = NEGATIVE[case]
    refused, _, _ = launch(lms.prepare(lms.person("mallory"), course, tamper=tamper()))
    assert 400 <= refused.status_code < 500, (case, refused.status_code)
    assert refused.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in refused.text and "Nothing was changed" in refused.text
    assert words in refused.text, refused.text
    assert counts(stack, lms, course) == before, case


def test_a_replayed_launch_is_refused(stack: Stack, lms: Lms):
    course = f"replay-{uuid.uuid4().hex[:6]}"
    landed, browser, (action, fields) = launch(lms.prepare(lms.person("rita"), course))
    assert landed.status_code == 303
    before = counts(stack, lms, course)
    replayed = browser.post(action, data=fields)  # the same signed launch, cookie and all
    assert replayed.status_code == 401 and "already used" in replayed.text
    # And from another browser (no state cookie)
    elsewhere = httpx.post(action, data=fields, timeout=30)
    assert elsewhere.status_code == 401
    assert counts(stack, lms, course) == before


def test_a_launch_from_one_lms_never_reaches_another_lms_course(stack: Stack, lms: Lms):
    other = Lms(client_id="other-client").start()
    try:
        register(stack, other, f"other-lms-{uuid.uuid4().hex[:6]}")
        course = f"shared-id-{uuid.uuid4().hex[:6]}"
        theirs, _, _ = launch(other.prepare(other.person("olga"), course))
        ours, _, _ = launch(
            lms.prepare(lms.person("otis"), course)
        )  # the same course id, another LMS
        their_token, _ = signed_in(stack, theirs)
        our_token, _ = signed_in(stack, ours)
        with stack.client(their_token) as a, stack.client(our_token) as b:
            assert a.get("/me").json()["cohort"] != b.get("/me").json()["cohort"]
        # Signed by this LMS while claiming to be the other: its key does not match
        before = counts(stack, other, course)
        forged, _, _ = launch(
            lms.prepare(
                lms.person("mallory"),
                course,
                tamper={"claims": {"iss": other.issuer, "aud": other.client_id}},
            )
        )
        assert forged.status_code == 401
        assert counts(stack, other, course) == before
    finally:
        other.stop()


def test_the_urls_an_lms_needs_and_gradeflows_key_set(stack: Stack):
    with stack.client(stack.tokens["otto"]) as ops:
        urls = ops.get("/lti/urls").json()
    with stack.client(stack.tokens["ada"]) as teacher:
        assert teacher.get("/lti/urls").status_code == 403
    assert set(urls) == {"login", "launch", "jwks", "deep_linking"}
    assert all(u.startswith(stack.api_url + "/lti/") for u in urls.values())
    keys = httpx.get(urls["jwks"], timeout=10).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and "d" not in k for k in keys)


WRONG_HELLO = RIGHT_HELLO.replace("'Hello'", "'Goodbye'")


def linked_course(
    stack: Stack, lms: Lms, title: str = "Hello", teacher=None
) -> tuple[str, dict, str]:
    """A course in the LMS with GradeFlow's `title` deep-linked: (course id, the link, the line item's URL)."""
    course = f"graded-{uuid.uuid4().hex[:6]}"
    made = deep_link(stack, lms, teacher or lms.person("teacher", instructor=True), course, title)
    item_id = next(i for i, it in lms.line_items.items() if it["resourceLinkId"] == made["link"])
    return course, made, f"{lms.url}/courses/{course}/lineitems/{item_id}"


def enter(stack: Stack, lms: Lms, person, course: str, made: dict) -> str:
    landed, _, _ = launch(lms.prepare(person, course, link=made["link"], custom=made["custom"]))
    return signed_in(stack, landed)[0]


def test_a_grade_reaches_the_lms_line_item_as_the_cohort_rule_makes_it(stack: Stack, lms: Lms):
    course, made, item = linked_course(stack, lms)
    student = lms.person("gina")
    token = enter(stack, lms, student, course, made)
    for code, grade in ((WRONG_HELLO, 0), (RIGHT_HELLO, 100), (WRONG_HELLO, 100)):  # best of them
        with stack.client(token) as c:
            sub = c.post("/assignments/1/submissions", json={"code": unique(code)})
        assert sub.status_code == 202, sub.text
        stack.wait_graded(token, sub.json()["id"])
        wait_for(
            lambda g=grade: (lms.score_of(item, student.sub) or {}).get("scoreGiven") == g,
            60,
            f"the LMS to hold the grade {grade}",
        )
    score = lms.score_of(item, student.sub)
    assert (score["scoreMaximum"], score["gradingProgress"]) == (100, "FullyGraded")
    # The cohort counts the latest score from now on: the LMS gets the grade that makes
    with stack.client(token) as c:
        cohort = c.get("/me").json()["cohort"]
    changed = gradeflow(stack, "cohorts", "rule", cohort, "latest")
    assert changed.returncode == 0, changed.stderr
    wait_for(lambda: lms.score_of(item, student.sub)["scoreGiven"] == 0, 60, "the latest score")


def test_grades_reach_the_lms_after_it_was_down_through_a_rush(stack: Stack, lms: Lms):
    """Acceptance: the LMS stopped for 60 s during 100 gradings; afterwards every line item holds its student's
    newest grade, and the operator saw them wait."""
    course, made, item = linked_course(stack, lms)
    students = [lms.person(f"rush{i}") for i in range(25)]
    tokens = [enter(stack, lms, s, course, made) for s in students]

    def grade_round(codes: list[str]) -> None:
        ids = []
        for token, code in zip(tokens, codes, strict=True):
            with stack.client(token) as c:
                sub = c.post("/assignments/1/submissions", json={"code": unique(code)})
            assert sub.status_code == 202, sub.text
            ids.append(sub.json()["id"])
        for token, sid in zip(tokens, ids, strict=True):
            stack.wait_graded(token, sid, timeout=180)

    grade_round([WRONG_HELLO] * 25)
    wait_for(
        lambda: all(lms.score_of(item, s.sub) for s in students), 60, "the first grades to arrive"
    )
    lms.stop()
    stopped = time.monotonic()
    # Three more rounds while it is down: a right answer for every other student at some round
    for r in range(3):
        grade_round([RIGHT_HELLO if (i + r) % 3 == 0 else WRONG_HELLO for i in range(25)])
    with stack.client(stack.tokens["otto"]) as ops:
        wait_for(
            lambda: ops.get("/lti/grades").json()["failed"] > 0,
            60,
            "the operator to see the posts failing",
        )
        seen = ops.get("/lti/grades").json()
    assert seen["pending"] > 0 and seen["problems"][0]["last_error"]
    assert all(lms.score_of(item, s.sub)["scoreGiven"] == 0 for s in students)
    wait_for(lambda: time.monotonic() - stopped >= 60, 90, "60 s of the LMS being down", interval=1)
    lms.start()

    def newest() -> dict[str, float]:
        return {s.sub: (lms.score_of(item, s.sub) or {}).get("scoreGiven") for s in students}

    expected = {
        s.sub: (100 if any((i + r) % 3 == 0 for r in range(3)) else 0)
        for i, s in enumerate(students)
    }
    wait_for(lambda: newest() == expected, 180, "every grade to reach the LMS after it came back")
    with stack.client(stack.tokens["otto"]) as ops:
        assert ops.get("/lti/grades").json()["pending"] == 0


def test_a_recount_of_late_credit_and_an_extension_send_the_grades_they_change(
    stack: Stack, lms: Lms
):
    teacher = lms.person("tess", instructor=True)
    course, made, item = linked_course(stack, lms, teacher=teacher)
    staff = enter(stack, lms, teacher, course, made)
    student = lms.person("lou")
    token = enter(stack, lms, student, course, made)
    with stack.client(token) as c:
        me = c.get("/me").json()
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
    stack.wait_graded(token, sub.json()["id"])
    held = lambda: (lms.score_of(item, student.sub) or {}).get("scoreGiven")  # noqa: E731
    wait_for(lambda: held() == 100, 60, "the on-time grade")
    # The due date was yesterday after all, with half credit for a week after it: the recount halves the grade
    with stack.client(staff) as c:
        terms = c.put(
            f"/cohorts/{me['cohort']}/assignments/1",
            json={
                "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                "late_windows": [{"hours": 24 * 7, "credit": 0.5}],
            },
        )
    assert terms.status_code == 200, terms.text
    wait_for(lambda: held() == 50, 60, "the recounted grade to reach the LMS")
    with stack.client(staff) as c:
        extended = c.put(
            f"/cohorts/{me['cohort']}/assignments/1/extensions/{me['name']}",
            json={"due_at": "2099-01-01T00:00:00Z", "reason": "illness"},
        )
    assert extended.status_code == 200, extended.text
    wait_for(lambda: held() == 100, 60, "the extension's recount to reach the LMS")


def test_an_operator_registers_an_lms_and_rotates_keys_from_the_command_line(stack: Stack):
    other = Lms(client_id="cli-client").start()
    try:
        reg = other.registration(f"cli-lms-{uuid.uuid4().hex[:6]}")
        added = gradeflow(
            stack,
            "lti",
            "add",
            reg["name"],
            "--issuer",
            reg["issuer"],
            "--client-id",
            reg["client_id"],
            "--auth-login-url",
            reg["auth_login_url"],
            "--auth-token-url",
            reg["auth_token_url"],
            "--key-set-url",
            reg["key_set_url"],
            "--deployment-id",
            other.deployment_id,
        )
        assert added.returncode == 0, added.stderr
        again = gradeflow(stack, *added.args[3:])  # the same again
        assert again.returncode == 1 and "already" in again.stderr
        urls = json.loads(gradeflow(stack, "lti", "urls", "--json").stdout)
        assert urls == {
            "login": f"{stack.api_url}/lti/login",
            "launch": f"{stack.api_url}/lti/launch",
            "jwks": f"{stack.api_url}/lti/jwks",
            "deep_linking": f"{stack.api_url}/lti/deep-linking",
        }
        other.tool_login_url, other.tool_jwks_url = urls["login"], urls["jwks"]
        landed, _, _ = launch(other.prepare(other.person("cleo"), f"cli-{uuid.uuid4().hex[:6]}"))
        assert landed.status_code == 303

        before = httpx.get(urls["jwks"], timeout=10).json()["keys"]
        rotated = gradeflow(stack, "lti", "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        new_kid = rotated.stdout.split()[3].rstrip(";")
        after = httpx.get(urls["jwks"], timeout=10).json()["keys"]
        assert {k["kid"] for k in after} == {k["kid"] for k in before} | {new_kid}
        # The new key signs: a deep link made now is checked by the LMS against the published set
        course = f"cli-dl-{uuid.uuid4().hex[:6]}"
        made = deep_link(stack, other, other.person("tia", instructor=True), course, "Hello")
        assert made["custom"] and other.deep_link_returns[-1]
        for old in before:
            retired = gradeflow(stack, "lti", "keys", "retire", old["kid"])
            assert retired.returncode == 0, retired.stderr
        assert [k["kid"] for k in httpx.get(urls["jwks"], timeout=10).json()["keys"]] == [new_kid]
        only = gradeflow(stack, "lti", "keys", "retire", new_kid)
        assert only.returncode == 1 and "only active key" in only.stderr
    finally:
        other.stop()


def test_a_roster_sync_shows_who_it_would_add_and_drop_then_does_and_runs_on_a_schedule(
    stack: Stack, lms: Lms
):
    teacher = lms.person("rhea", instructor=True)
    course, made, _ = linked_course(stack, lms, teacher=teacher)
    staff = enter(stack, lms, teacher, course, made)
    stays, leaves = lms.person("stan"), lms.person("lena")
    enter(stack, lms, stays, course, made)
    leaving = enter(stack, lms, leaves, course, made)
    with stack.client(leaving) as c:
        cohort, leaver = c.get("/me").json()["cohort"], c.get("/me").json()["name"]
        sub = c.post("/assignments/1/submissions", json={"code": unique(RIGHT_HELLO)})
    stack.wait_graded(leaving, sub.json()["id"])
    newcomers = [lms.person("nina"), lms.person("nico", instructor=True)]
    lms.members = [teacher, stays, *newcomers]  # lena left the course in the LMS

    def members() -> set[str]:
        with stack.client(staff) as c:
            return {m["name"] for m in c.get(f"/cohorts/{cohort}/members").json()}

    before = members()
    with stack.client(staff) as c:
        preview = c.get(f"/lti/rosters/{cohort}").json()
    assert preview["applied"] is False and preview["unchanged"] == 2
    assert sorted((m["name"], m["role"]) for m in preview["add"]) == [
        ("nico", "instructor"),
        ("nina", "student"),
    ]
    assert preview["drop"] == [leaver]
    assert members() == before, "a preview changes nothing"
    with stack.client(staff) as c:
        applied = c.post(f"/lti/rosters/{cohort}").json()
        assert applied["applied"] and applied["drop"] == [leaver]
        assert c.get(f"/lti/rosters/{cohort}").json() | {"unchanged": 0} == {
            "cohort": cohort,
            "applied": False,
            "add": [],
            "drop": [],
            "unchanged": 0,
        }
    after = members()
    assert leaver not in after and len(after) == len(before) + 1
    kept = stack.sql(
        "SELECT status FROM submissions WHERE id = CAST(:i AS uuid)", i=sub.json()["id"]
    )
    assert kept == [("graded",)], "a dropped student keeps their work"
    # Another instructor's course is not theirs to sync
    with stack.client(stack.tokens["ada"]) as c:
        assert c.get(f"/lti/rosters/{cohort}").status_code == 403
        assert c.get("/lti/rosters/demo").status_code in (403, 409)

    # The schedule syncs every LMS course: a member added in the LMS joins without anyone asking
    late = lms.person("lars")
    lms.members.append(late)

    async def trigger() -> None:
        from temporalio.client import Client

        client = await Client.connect(stack.temporal_address)
        await client.get_schedule_handle("gradeflow-lti-rosters").trigger()

    run_async(trigger)
    wait_for(lambda: len(members()) == len(after) + 1, 60, "the scheduled sync to add the newcomer")


def test_a_student_made_staff_of_another_course_is_refused_not_promoted(stack: Stack, lms: Lms):
    """One GradeFlow account has one role: a student of one course whom the LMS makes a TA of another would,
    promoted, become staff of the course they study in (and read their classmates' code)."""
    studies, assists = f"studies-{uuid.uuid4().hex[:6]}", f"assists-{uuid.uuid4().hex[:6]}"
    person = lms.person("tara")
    token, _ = signed_in(stack, launch(lms.prepare(person, studies))[0])
    person.roles = ["http://purl.imsglobal.org/vocab/lis/v2/membership#TeachingAssistant"]
    before = counts(stack, lms, assists)
    refused, _, _ = launch(lms.prepare(person, assists))
    assert refused.status_code == 403 and "one account has one role" in refused.text
    assert counts(stack, lms, assists) == before
    with stack.client(token) as c:
        assert c.get("/me").json()["role"] == "student"
    # Made staff of the one course they are in, they are staff
    promoted, _ = signed_in(stack, launch(lms.prepare(person, studies))[0])
    with stack.client(promoted) as c:
        assert c.get("/me").json()["role"] == "instructor"
