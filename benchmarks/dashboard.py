"""The dashboard under a deadline, measured with a protocol-level client: signed-in student pages that speak
Streamlit's own websocket and messages (no browsers, so the load generator is not the bottleneck).

Against one embedded stack, each on fresh dashboard processes (one, and several behind HAProxy as `gradeflow up
--dashboards N` runs them):
- a deadline for N students: N pages open (memory per page), idle (CPU), each reruns once within 10 s (rerun
  p50/p95: send the rerun, wait for the script to finish), then every student presses Submit within 10 s and
  follows the grading as the browser does (press -> verdict shown, beside the API's own submit -> result);
- M pages that pressed Submit and follow gradings that stay pending (the worker is stopped): the dashboard's CPU
  while nothing changes, and meanwhile other open pages' reruns. A page honours the server's auto-rerun requests
  (a timer fragment's) and holds the events relay open, as the browser does.

    python -m benchmarks.dashboard   # BENCH_DASHBOARD_PAGES=100,300,400,1000 BENCH_DASHBOARD_PROCESSES=1,2
                                     # BENCH_DASHBOARD_FOLLOWING=50 BENCH_DASHBOARD_OTHERS=250
                                     # BENCH_DASHBOARD_PARTS=deadline,following
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks.report import machine, write_section
from benchmarks.stack import bench_stack
from dashboard.session import COOKIE, EVENTS_PATH
from gradeflow.launch import proxy
from gradeflow.launch.embedded import free_port
from gradeflow.launch.roles import RoleProcess
from gradeflow.launch.synthetic import synthetic_students
from gradeflow.vocabulary import FINAL_STATUSES, SubmissionStatus

PAGES = [int(n) for n in os.environ.get("BENCH_DASHBOARD_PAGES", "100,300,400,1000").split(",")]
# Dashboard processes: one, and several behind HAProxy (one per core)
PROCESSES = [
    int(n)
    for n in os.environ.get("BENCH_DASHBOARD_PROCESSES", f"1,{max(2, os.cpu_count() or 1)}").split(
        ","
    )
]
FOLLOWING = int(os.environ.get("BENCH_DASHBOARD_FOLLOWING", "50"))
RUSH = os.environ.get("BENCH_DASHBOARD_RUSH", "1") != "0"  # 0: no Submit (reruns only)
OTHERS = int(os.environ.get("BENCH_DASHBOARD_OTHERS", "250"))  # open meanwhile, rerunning
SPREAD_SECONDS = 10.0
IDLE_SECONDS = 20.0
# Which measurements to run (both by default): deadline, following
PARTS = set(os.environ.get("BENCH_DASHBOARD_PARTS", "deadline,following").split(","))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that were waited for, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@dataclass
class Page:
    """One student's page: a websocket to the dashboard, the widgets it last drew, and the reruns it asked for."""

    url: str
    token: str
    assignment: str
    ws: aiohttp.ClientWebSocketResponse | None = None
    buttons: dict[str, str] = field(default_factory=dict)  # label -> widget id
    # Every widget's value as the browser would send it with each rerun (a widget left out goes back to its
    # default): id -> its WidgetState fields
    values: dict[str, dict] = field(default_factory=dict)
    editor: str | None = None  # the code editor's widget id
    page_hash: str = ""  # the page the server runs, as every rerun names it
    auto_reruns: list[tuple[float, str]] = field(default_factory=list)  # (interval, fragment id)
    # The status watcher the page drew last: (its widget id, its fragment, the status it waits to change,
    # whether it only reports the final status on the screen)
    watcher: tuple[str, str, str, bool] | None = None
    verdict_at: float | None = None  # when the page first showed a score
    said: list[str] = field(default_factory=list)  # the warnings and errors the page showed
    final_heard: float = 0.0  # when the page's relay said the grading is over (epoch seconds)
    final_heard_perf: float = 0.0  # the same, on the perf_counter clock
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    watcher_drawn: asyncio.Event = field(default_factory=asyncio.Event)
    verdict_shown: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self, session: aiohttp.ClientSession) -> float:
        self.ws = await session.ws_connect(
            f"{self.url.replace('http', 'ws', 1)}/_stcore/stream",
            protocols=("streamlit",),
            headers={"Cookie": f"{COOKIE}={self.token}", "Origin": self.url},
            max_msg_size=0,
        )
        asyncio.create_task(self._read())
        return await self.rerun()

    async def _read(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.BINARY:
                continue
            msg = ForwardMsg()
            msg.ParseFromString(message.data)
            kind = msg.WhichOneof("type")
            if kind == "navigation":
                self.page_hash = msg.navigation.page_script_hash
            elif kind == "script_finished":
                self.finished.set()
            elif kind == "auto_rerun":
                self.auto_reruns.append((msg.auto_rerun.interval, msg.auto_rerun.fragment_id))
            elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                element = msg.delta.new_element
                which = element.WhichOneof("type")
                if which == "button":
                    self.buttons[element.button.label] = element.button.id
                elif which == "radio" and (
                    element.radio.set_value or element.radio.id not in self.values
                ):
                    # As the browser: the server's value when it sets one, else the choice it has
                    radio = element.radio
                    label = radio.raw_value if radio.set_value else radio.options[radio.default]
                    self.values[radio.id] = {"id": radio.id, "string_value": label}
                elif (
                    which == "component_instance"
                    and "ace" in element.component_instance.component_name
                ):
                    self.editor = element.component_instance.id
                elif which == "bidi_component" and "status_watcher" in (
                    element.bidi_component.component_name
                ):
                    data = json.loads(element.bidi_component.json or "{}")
                    self.watcher = (
                        element.bidi_component.id,
                        msg.delta.fragment_id,
                        data["status"],
                        bool(data.get("shown")),
                    )
                    self.watcher_drawn.set()
                elif which == "alert" and "Score " in element.alert.body and not self.verdict_at:
                    self.verdict_at = time.perf_counter()
                    self.verdict_shown.set()
                elif which == "alert" and element.alert.format in (
                    element.alert.ERROR,
                    element.alert.WARNING,
                ):
                    self.said.append(element.alert.body)

    async def rerun(self, states: list[dict] | None = None, fragment: str = "") -> float:
        """Ask for a run (with these widget states) and wait until the script has finished it."""
        assert self.ws is not None
        back = BackMsg()
        state = back.rerun_script
        state.query_string = f"assignment={self.assignment}"
        state.page_name = "learn"
        state.page_script_hash = self.page_hash
        if fragment:
            state.fragment_id = fragment
            state.is_auto_rerun = True
        for widget in states or []:
            if "trigger_value" not in widget:
                self.values[widget["id"]] = widget
        triggers = [w for w in states or [] if "trigger_value" in w]
        for widget in [*self.values.values(), *triggers]:
            proto = state.widget_states.widgets.add()
            proto.id = widget["id"]
            for name, value in widget.items():
                if name != "id":
                    setattr(proto, name, value)
        self.finished.clear()
        started = time.perf_counter()
        await self.ws.send_bytes(back.SerializeToString())
        await asyncio.wait_for(self.finished.wait(), 120)
        return time.perf_counter() - started

    async def submit(self, code: str) -> float:
        button = next(i for label, i in self.buttons.items() if label.startswith("Submit to"))
        assert self.editor is not None, "the page drew no code editor"
        return await self.rerun(
            [
                {"id": self.editor, "json_value": json.dumps(code)},
                {"id": button, "trigger_value": True},
            ]
        )


async def follow_as_a_browser(page: Page, session: aiohttp.ClientSession, submission: str) -> None:
    """What the page's watcher does in a browser: listen on the events relay and, when the status is not the one
    the watcher waits on, hand the new status to the page (a rerun of the result's fragment); once the page
    shows the verdict, say so (the page then runs whole to catch up)."""
    url = f"{page.url}/{EVENTS_PATH}/{submission}"
    while True:
        drawn = asyncio.create_task(page.watcher_drawn.wait())
        shown = asyncio.create_task(page.verdict_shown.wait())
        await asyncio.wait((drawn, shown), timeout=120, return_when=asyncio.FIRST_COMPLETED)
        drawn.cancel()
        shown.cancel()
        if page.verdict_shown.is_set() and not page.watcher_drawn.is_set():
            return  # shown by a whole run of the page
        assert page.watcher_drawn.is_set(), (
            f"the page neither showed a verdict nor waits for one; it said {page.said[-3:]}"
        )
        page.watcher_drawn.clear()
        assert page.watcher is not None
        widget, fragment, waiting_on, on_screen = page.watcher
        if on_screen:
            await page.rerun([{"id": widget, "json_value": json.dumps({"shown": True})}], fragment)
            return
        async with session.get(url, headers={"Cookie": f"{COOKIE}={page.token}"}) as stream:
            async for raw in stream.content:
                line = raw.decode().strip()
                if line.startswith("data: ") and json.loads(line[6:])["status"] != waiting_on:
                    if json.loads(line[6:])["status"] in FINAL_STATUSES:
                        page.final_heard = time.time()
                        page.final_heard_perf = time.perf_counter()
                    state = {"id": widget, "json_value": json.dumps({"latest": line[6:]})}
                    await page.rerun([state], fragment)
                    break


async def open_pages(
    url: str, tokens: list[str], session: aiohttp.ClientSession
) -> tuple[list[Page], list[float]]:
    """Open a page per token, a few at a time as people arrive (not all in one instant)."""
    pages = [Page(url, t, "sum") for t in tokens]
    gate = asyncio.Semaphore(20)

    async def one(page: Page) -> float:
        async with gate:
            return await page.open(session)

    return pages, list(await asyncio.gather(*(one(p) for p in pages)))


async def rerun_each_once(pages: list[Page]) -> list[float]:
    async def later(page: Page, delay: float) -> float:
        await asyncio.sleep(delay)
        return await page.rerun()

    return list(
        await asyncio.gather(
            *(later(p, SPREAD_SECONDS * i / len(pages)) for i, p in enumerate(pages))
        )
    )


async def read(session: aiohttp.ClientSession, url: str, headers: dict) -> Any:
    """An API read by the load generator itself, tried again while the API is too busy to answer (a 503 in the
    rush is the API saying so, not a result to measure)."""
    for _ in range(60):
        async with session.get(url, headers=headers) as r:
            if r.status == 200:
                return await r.json()
        await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} did not answer 200 within 30 s (last {r.status})")


async def press_submit_and_follow(
    pages: list[Page], session: aiohttp.ClientSession, api_url: str
) -> dict:
    """Every page presses Submit within SPREAD_SECONDS and follows its grading as the browser does: from the press
    to the verdict shown on the page, beside the API's own submit -> result for the same submissions."""
    code = "def sum(a, b):\n    return a + b\n"

    async def one(page: Page, delay: float) -> tuple[float, float, float, float, int]:
        await asyncio.sleep(delay)
        page.verdict_at, page.final_heard, page.final_heard_perf = None, 0.0, 0.0
        page.verdict_shown.clear()
        page.watcher_drawn.clear()
        pressed = time.perf_counter()
        source = f"# {uuid.uuid4()}\n{code}"
        presses = 0
        while True:
            said = len(page.said)
            await page.submit(source)
            presses += 1
            if page.watcher_drawn.is_set() or page.verdict_shown.is_set():
                break
            # The page said why it could not submit (the API too busy to answer in time): as a person
            # would, press again a moment later
            assert len(page.said) > said and presses < 10, f"Submit: {page.said[-3:]}"
            await asyncio.sleep(2)
        headers = {"Authorization": f"Bearer {page.token}"}
        submission = (await read(session, f"{api_url}/api/v1/me/submissions", headers))[0]["id"]
        await follow_as_a_browser(page, session, submission)
        graded = await read(session, f"{api_url}/api/v1/submissions/{submission}", headers)
        api_seconds = (
            datetime.fromisoformat(graded["graded_at"])
            - datetime.fromisoformat(graded["created_at"])
        ).total_seconds()
        assert page.verdict_at is not None
        heard = page.final_heard - datetime.fromisoformat(graded["graded_at"]).timestamp()
        return (
            page.verdict_at - pressed,
            api_seconds,
            heard,
            page.verdict_at - page.final_heard_perf,
            presses,
        )

    results = await asyncio.gather(
        *(one(p, SPREAD_SECONDS * i / len(pages)) for i, p in enumerate(pages))
    )
    shown, api, heard, drawn, presses = ([r[i] for r in results] for i in range(5))
    return {
        "shown_p50": statistics.median(shown),
        "shown_p95": pct(shown, 0.95),
        "api_p50": statistics.median(api),
        "api_p95": pct(api, 0.95),
        # after the grading: until the page's relay told it, and from then until the verdict was drawn
        "heard_p50": statistics.median(heard),
        "drawn_p50": statistics.median(drawn),
        # Submit pressed again after the page said it could not submit
        "pressed_again": sum(presses) - len(presses),
    }


async def a_deadline(front: Dashboards, tokens: list[str], api_url: str) -> dict:
    """N students open their page; what the open pages cost while idle (memory, CPU); each page reruns once
    within SPREAD_SECONDS; then every student presses Submit within SPREAD_SECONDS and follows the result."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        # A process's first page imports what every page uses: one each, on its own port, before memory is
        # counted
        warm = []
        for direct, token in zip(front.direct, tokens, strict=False):
            warm += (await open_pages(direct, [token], session))[0]
        memory_before = front.rss()
        pages, opened = await open_pages(front.url, tokens[len(warm) :], session)
        await asyncio.sleep(2)
        memory_per_page = (front.rss() - memory_before) / len(pages)
        pages += warm
        before = front.cpu()
        await asyncio.sleep(IDLE_SECONDS)
        idle_share = (front.cpu() - before) / IDLE_SECONDS
        before = front.cpu()
        times = await rerun_each_once(pages)
        cpu_per_rerun = (front.cpu() - before) / len(pages)
        before = front.cpu()
        rush = await press_submit_and_follow(pages, session, api_url) if RUSH else {}
        cpu_per_submission = (front.cpu() - before) / len(pages)
        for page in pages:
            await page.ws.close()
    return {
        "pages": len(pages),
        "processes": front.processes,
        "open_p50": statistics.median(opened),
        "memory_kib_per_page": memory_per_page / 1024,
        "idle_core_share": idle_share,
        "p50": statistics.median(times),
        "p95": pct(times, 0.95),
        "cpu_ms_per_rerun": cpu_per_rerun * 1000,
        "cpu_ms_per_submission": cpu_per_submission * 1000,
        **rush,
    }


async def pages_following_pending_gradings(
    front: Dashboards, api_url: str, following: list[str], others: list[str]
) -> dict:
    """Pages that pressed Submit while no worker grades: what following costs the dashboard while nothing
    changes, and the other students' reruns meanwhile."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        pages, _ = await open_pages(front.url, following, session)
        other_pages, _ = await open_pages(front.url, others, session)
        code = "def sum(a, b):\n    return a + b\n"
        await asyncio.gather(*(p.submit(f"# {uuid.uuid4()}\n{code}") for p in pages))
        stop = asyncio.Event()

        async def as_a_browser(page: Page) -> None:
            """Honour the timer fragments the page asked for, and hold its events relay open."""
            sub = await (
                await session.get(
                    f"{api_url}/api/v1/me/submissions",
                    headers={"Authorization": f"Bearer {page.token}"},
                )
            ).json()
            assert sub and sub[0]["status"] == SubmissionStatus.QUEUED, (
                f"the page's Submit did not submit: {sub}"
            )
            relay = await session.get(
                f"{front.url}/{EVENTS_PATH}/{sub[0]['id']}",
                headers={"Cookie": f"{COOKIE}={page.token}"},
            )
            while not stop.is_set():
                if page.auto_reruns:
                    interval, fragment = page.auto_reruns[-1]
                    await asyncio.sleep(interval)
                    await page.rerun(fragment=fragment)
                else:
                    await asyncio.sleep(0.5)
            relay.close()

        tasks = [asyncio.create_task(as_a_browser(p)) for p in pages]
        await asyncio.sleep(2)  # every page settled on its pending submission
        broken = [t for t in tasks if t.done()]
        assert not broken, f"{len(broken)} pages did not follow: {broken[0].exception()!r}"
        before = front.cpu()
        await asyncio.sleep(IDLE_SECONDS)
        spent = front.cpu() - before
        times = await rerun_each_once(other_pages)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for page in [*pages, *other_pages]:
            await page.ws.close()
    return {
        "pages": len(following),
        "core_share": spent / IDLE_SECONDS,
        "timer_fragments": sum(bool(p.auto_reruns) for p in pages),
        "others": len(others),
        "others_p50": statistics.median(times),
        "others_p95": pct(times, 0.95),
    }


@dataclass
class Dashboards:
    """Dashboard processes as `gradeflow up` runs them: one, or several behind HAProxy."""

    url: str
    roles: list[RoleProcess]
    direct: list[str]  # each dashboard process's own address

    @property
    def processes(self) -> int:
        return sum(1 for r in self.roles if "dashboard" in r.argv)

    def cpu(self) -> float:
        """CPU seconds of every process, HAProxy's included."""
        return sum(cpu_seconds(r.proc.pid) for r in self.roles if r.proc)

    def rss(self) -> float:
        """Resident memory of the dashboard processes, bytes."""
        total = 0
        for role in self.roles:
            if role.proc and "dashboard" in role.argv:
                for line in open(f"/proc/{role.proc.pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        return total

    def stop(self) -> None:
        for role in self.roles:
            role.stop()


def dashboards(stack, processes: int) -> Dashboards:
    logs = stack.home / "logs"
    env = {**stack.env, "GRADEFLOW_API_URL": stack.api_url}
    ports = [free_port() for _ in range(processes)]
    roles = [
        RoleProcess(
            [sys.executable, "-m", "gradeflow", "dashboard", "--port", str(port)],
            env,
            logs / f"dashboard-{port}.log",
        )
        for port in ports
    ]
    url = f"http://127.0.0.1:{ports[0]}"
    if processes > 1:
        front = free_port()
        config = stack.home / f"haproxy-{front}.cfg"
        config.write_text(proxy.config("127.0.0.1", front, ports))
        roles.append(RoleProcess(proxy.argv(config), env, logs / f"proxy-{front}.log"))
        url = f"http://127.0.0.1:{front}"
    for role in roles:
        role.start()
    deadline = time.monotonic() + 60
    for address in [*(f"http://127.0.0.1:{p}" for p in ports), url]:
        while not health(f"{address}/_stcore/health"):
            if time.monotonic() > deadline:
                raise SystemExit(f"the dashboards did not start; see {logs}")
            time.sleep(0.2)
    return Dashboards(url, roles, [f"http://127.0.0.1:{p}" for p in ports])


def health(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def deadline_row(r: dict) -> str:
    where = "1 process" if r["processes"] == 1 else f"{r['processes']} processes + HAProxy"
    return (
        f"| {r['pages']:,} | {where} | {r['memory_kib_per_page']:.0f} KiB | "
        f"{r['idle_core_share']:.1%} of a core | {r['p50'] * 1000:.0f} / {r['p95'] * 1000:.0f} ms "
        f"({r['cpu_ms_per_rerun']:.0f} ms CPU) | {r['shown_p50']:.1f} / {r['shown_p95']:.1f} s | "
        f"{r['api_p50']:.1f} / {r['api_p95']:.1f} s | {r['shown_p95'] / r['api_p95']:.2f} | "
        f"{r['cpu_ms_per_submission']:.0f} ms | {r['pressed_again']} |"
    )


def main() -> None:
    rows, following = [], None
    with bench_stack(GRADEFLOW_SUBMISSIONS_PER_MINUTE="100000") as stack:
        need = max([*PAGES, FOLLOWING + OTHERS])
        tokens = [
            t
            for _, t in stack.db(
                lambda s: synthetic_students(s, f"pages-{uuid.uuid4().hex[:6]}", need)
            )
        ]
        for processes in PROCESSES if "deadline" in PARTS else []:
            for n in PAGES:
                front = dashboards(stack, processes)
                try:
                    result = asyncio.run(a_deadline(front, tokens[:n], stack.api_url))
                finally:
                    front.stop()
                print(result, flush=True)
                if RUSH:
                    rows.append(deadline_row(result))
        if "following" in PARTS:
            stack.worker.stop()  # gradings stay pending
            front = dashboards(stack, 1)
            try:
                following = asyncio.run(
                    pages_following_pending_gradings(
                        front,
                        stack.api_url,
                        tokens[:FOLLOWING],
                        tokens[FOLLOWING : FOLLOWING + OTHERS],
                    )
                )
            finally:
                front.stop()
            print(following, flush=True)
    if following is None or not rows:
        return  # a partial run reports on the console only
    body = "\n".join(
        [
            f"`python -m benchmarks.dashboard` on {machine()}: pages speaking Streamlit's websocket protocol "
            f"(no browsers), each signed in on the Sum assignment; the whole stack and the load generator on "
            f"these cores. Per row: N students open their page; the open pages idle {IDLE_SECONDS:g} s; each "
            f"page reruns once within {SPREAD_SECONDS:g} s; then every student presses Submit within "
            f"{SPREAD_SECONDS:g} s and follows the grading as the browser does (events relay, then the "
            "verdict drawn); a page that says it could not submit (the API too busy to answer in time) is "
            "pressed again 2 s later, as a person would, and the time counts from the first press. Memory "
            "is the dashboards' resident memory per open page; CPU counts every dashboard process and "
            "HAProxy.",
            "",
            "| open pages | dashboards | memory per page | CPU while idle | rerun p50 / p95 | "
            "press Submit -> verdict shown p50 / p95 | the API's submit -> result p50 / p95 | "
            "shown / API at p95 | dashboard CPU per submission | Submit pressed again |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"{following['pages']} pages following gradings that stay pending (each with its events relay "
            f"open; {following['timer_fragments']} asked for a timer rerun): the dashboard used "
            f"{following['core_share']:.1%} of a core while nothing changed; meanwhile "
            f"{following['others']} other open pages each reran once within {SPREAD_SECONDS:g} s: p50 "
            f"{following['others_p50'] * 1000:.0f} ms, p95 {following['others_p95'] * 1000:.0f} ms.",
        ]
    )
    write_section("dashboard", body)


if __name__ == "__main__":
    main()
