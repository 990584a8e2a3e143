"""`gradeflow submit`: a student hands in a file from a terminal or a script, and (with --follow) reads the verdict
as it arrives over the events stream; the exit code says whether it passed."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from gradeflow.settings import Settings
from gradeflow.vocabulary import FINAL_STATUSES, Verdict

# Exit codes, for scripts: passed; graded but not passed (or refused); could not even try.
PASSED, NOT_PASSED, USAGE = 0, 1, 2


def token_file() -> Path:
    """Where a student may keep their token instead of the environment: $XDG_CONFIG_HOME/gradeflow/token
    (default ~/.config/gradeflow/token)."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "gradeflow" / "token"


def find_token(given: str | None, path: Path | None) -> str | None:
    """--token, else $GRADEFLOW_TOKEN, else the token file (--token-file or the default one)."""
    if given:
        return given
    if os.environ.get("GRADEFLOW_TOKEN"):
        return os.environ["GRADEFLOW_TOKEN"]
    candidate = path or token_file()
    try:
        return candidate.read_text().strip() or None
    except OSError:
        return None


def detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text or f"HTTP {response.status_code}"


def resolve_assignment(api: httpx.Client, wanted: str) -> int | str:
    """An assignment id from what the student typed (an id, a slug or a title), or why none fits."""
    if wanted.isdigit():
        return int(wanted)
    response = api.get("/assignments")
    if response.status_code != 200:
        return detail(response)
    for assignment in response.json():
        if wanted in (assignment["slug"], assignment["title"]):
            return int(assignment["id"])
    known = ", ".join(f"{a['id']} ({a['slug']})" for a in response.json()) or "none"
    return f"no assignment '{wanted}' is offered to you; yours: {known}"


def statuses(api: httpx.Client, submission_id: str) -> Iterator[dict]:
    """The submission as the events stream pushes each change, until its result is in."""
    with api.stream("GET", f"/submissions/{submission_id}/events", timeout=None) as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(detail(response))
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[len("data: ") :])


def report(submission: dict, out=sys.stdout) -> int:
    """The result as a student reads it; returns the exit code."""
    verdict = submission.get("verdict") or submission["status"]
    score = submission.get("score")
    scored = f" ({score:g} of {submission['max_score']:g} points)" if score is not None else ""
    print(f"{verdict}{scored}", file=out)
    if submission.get("message"):
        print(f"  {submission['message']}", file=out)
    for test in submission.get("tests") or []:
        mark = "✓" if test["passed"] else "✗"
        why = f": {test['message']}" if test.get("message") and not test["passed"] else ""
        print(f"  {mark} {test['name']}{why}", file=out)
    return PASSED if submission.get("verdict") == Verdict.PASSED else NOT_PASSED


def submit(
    settings: Settings,
    assignment: str,
    path: Path,
    follow: bool,
    token: str | None,
    token_path: Path | None,
) -> int:
    """Hand in `path` for `assignment`; with `follow`, wait for the verdict and exit 0 only on a pass."""
    found = find_token(token, token_path)
    if not found:
        print(
            f"error: no API token: give --token, set GRADEFLOW_TOKEN, or put it in {token_path or token_file()}",
            file=sys.stderr,
        )
        return USAGE
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return USAGE
    base = settings.resolved_api_url
    headers = {"Authorization": f"Bearer {found}"}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30) as api:
        try:
            target = resolve_assignment(api, assignment)
            if isinstance(target, str):
                print(f"error: {target}", file=sys.stderr)
                return NOT_PASSED
            response = api.post(f"/assignments/{target}/submissions", json={"code": code})
            if response.status_code not in (201, 202):
                print(f"refused ({response.status_code}): {detail(response)}", file=sys.stderr)
                return NOT_PASSED
            submission = response.json()
            print(
                f"submitted {path.name} to assignment {target}: {submission['id']}", file=sys.stderr
            )
            if submission["status"] in FINAL_STATUSES:
                return report(submission)
            if not follow:
                print(
                    f"{submission['status']}; follow it with: curl -N -H 'Authorization: Bearer …' "
                    f"{base}/api/v1/submissions/{submission['id']}/events",
                    file=sys.stderr,
                )
                return PASSED
            for now in statuses(api, submission["id"]):
                if now["status"] in FINAL_STATUSES:
                    return report(now)
                print(f"{now['status']}…", file=sys.stderr, flush=True)
        except (httpx.HTTPError, RuntimeError) as exc:
            print(f"error: the API at {base} did not answer as expected ({exc})", file=sys.stderr)
            return USAGE
    print("error: the events stream ended before the result", file=sys.stderr)
    return USAGE
