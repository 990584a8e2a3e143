"""The warm supervisor (sandbox/warm.c, sandbox.warm): compiled C and C++ programs run in namespaces the sandbox
server made once, each grading with its own uid and /work. What sharing the namespaces could open between two
gradings at once stays shut; a grading the supervisor cannot take is served the usual way."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from sandbox import Sandbox, SandboxJob, warm
from tests.conftest import wait_for
from tests.sandbox.conftest import NativeGrader
from tests.sandbox.programs import FUNCTION_TESTS, PROGRAMS, SUM_CASES, needs
from tests.sandbox.test_sandbox import assert_nothing_outlived_the_run

LIMITS = {"cpu_seconds": 2, "wall_seconds": 6, "memory_mb": 128, "output_kb": 64}

# Prints its uid (the expected output never matches: the judge's message shows what it printed)
WHO_AM_I = '#include <stdio.h>\n#include <unistd.h>\nint main(void) { printf("uid %d\\n", (int)getuid()); }\n'
# The same, after a second alive: gradings started together are running together when they print
WHO_AM_I_AFTER_A_SECOND = WHO_AM_I.replace("{ printf", "{ sleep(1); printf")

BURNS_CPU = (
    "#include <stdio.h>\nint main(void) { volatile unsigned long i = 0;"
    ' for (unsigned long n = 0; n < 400000000UL; n++) i += n; printf("%d\\n", 5); return 0; }\n'
)

# Reads its two numbers, stays alive about 2 s, then prints their sum: passes only if nothing stopped it
VICTIM = r"""#include <stdio.h>
#include <time.h>
int main(void) {
    long a, b;
    if (scanf("%ld %ld", &a, &b) != 2) return 1;
    struct timespec t = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 100; i++) nanosleep(&t, 0);
    printf("%ld\n", a + b);
    return 0;
}
"""

# For about 1.5 s, again and again: signal every process it can name, read another grading's /work, make SysV
# IPC objects and message queues another grading could find. Prints "5" if any of it worked.
ATTACKER = r"""#define _GNU_SOURCE
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int worked = 0, seen = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        kill(-1, SIGKILL);  /* says 0 whenever another process is there, signalled or not: the victims tell */
        for (int pid = 1; pid < 4096; pid++) {
            if (pid == getpid()) continue;
            if (kill(pid, 0) == 0) worked = 1;
            else if (kill(pid, SIGKILL) == 0) worked = 1;
            else seen++;
        }
        if (shmget(4242, 4096, IPC_CREAT | 0666) >= 0 || shmget(IPC_PRIVATE, 4096, 0666) >= 0) worked = 1;
        if (msgget(4242, IPC_CREAT | 0666) >= 0 || semget(4242, 1, IPC_CREAT | 0666) >= 0) worked = 1;
        if (mq_open("/gradeflow", O_CREAT | O_RDWR, 0666, 0) != (mqd_t)-1) worked = 1;
        const char *others[] = {"/proc/1/root/work/program", "/proc/self/root", "/work/../proc", "/dev/shm", 0};
        for (int i = 0; others[i]; i++) if (open(others[i], O_RDONLY) >= 0) worked = 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2 && !worked);
    fprintf(stderr, "%d failed attempts\n", seen);
    puts(worked ? "5" : "4");
    return 0;
}
"""


def printed(result) -> str:
    match = re.search(r"Your output:\n(.*)", result.tests[0]["message"])
    assert match, result.tests
    return match.group(1)


def warm_uids(native: NativeGrader, code: str, n: int) -> list[int]:
    jobs = [
        SandboxJob(
            code=code, language="c", io_cases=[{"stdin": "", "stdout": "?\n"}], limits=LIMITS
        )
        for _ in range(n)
    ]
    return [int(printed(r).split()[1]) for r in native.run_many(jobs)]


def test_c_and_cpp_programs_run_warm_with_a_uid_of_their_own_for_each_grading(native: NativeGrader):
    needs("c")
    assert native.sandbox._server is not None
    supervisor = warm.outside_root(native.sandbox._server.pid)
    assert any(uid == supervisor for uid in process_uids()), (
        "the server started its warm supervisor"
    )
    # Gradings at once each get a uid of their own (inside: 1..SLOTS; in namespaces of their own it would be 0)
    uids = warm_uids(native, WHO_AM_I_AFTER_A_SECOND, 3)
    assert all(1 <= uid <= warm.SLOTS for uid in uids), uids
    assert len(set(uids)) == 3, uids
    for language in ("c", "cpp"):
        needs(language)
        right = native.run(
            SandboxJob(
                code=PROGRAMS[language]["right"],
                language=language,
                io_cases=SUM_CASES,
                limits=LIMITS,
            )
        )
        assert right.verdict == "passed", right.tests
    # The cases are not the judge's children: their CPU is counted all the same
    busy = native.run(
        SandboxJob(
            code=BURNS_CPU, language="c", io_cases=[{"stdin": "", "stdout": "5\n"}], limits=LIMITS
        )
    )
    assert busy.verdict == "passed", busy.message
    assert busy.cpu_ms >= 50 and busy.peak_memory_kb > 0, (busy.cpu_ms, busy.peak_memory_kb)
    assert_nothing_outlived_the_run()


SIGNALS_AT_DEFAULT = r"""#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
int main(void) {
    for (int sig = 1; sig < 32; sig++) {
        struct sigaction now;
        sigset_t blocked;
        sigprocmask(SIG_BLOCK, 0, &blocked);
        if (sig != SIGKILL && sig != SIGSTOP && (sigaction(sig, 0, &now) || now.sa_handler != SIG_DFL
                                                 || sigismember(&blocked, sig))) {
            printf("signal %d is not at its default\n", sig);
            return 0;
        }
    }
    puts("5");
    return 0;
}
"""


def test_a_case_starts_with_every_signal_at_its_default_and_stops_at_the_output_limit(
    native: NativeGrader,
):
    """The server is Python, which ignores SIGPIPE and SIGXFSZ: a case must not inherit that (at the output
    limit SIGXFSZ ends it, instead of a program writing on into EFBIG until its time runs out)."""
    needs("c")
    case = [{"stdin": "", "stdout": "5\n"}]
    result = native.run(
        SandboxJob(code=SIGNALS_AT_DEFAULT, language="c", io_cases=case, limits=LIMITS)
    )
    assert result.verdict == "passed", result.tests
    floods = native.run(
        SandboxJob(code=PROGRAMS["c"]["output_limit"], language="c", io_cases=case, limits=LIMITS)
    )
    assert floods.verdict == "output_limit", floods.message
    assert floods.cpu_ms < 1000, "ended by SIGXFSZ at the limit, not by its time limit"


def test_two_gradings_at_once_cannot_reach_each_other(native: NativeGrader):
    """The victim's grading runs while the attacker's signals every pid, tries every way to another /work and
    makes IPC objects both could share: the victim passes, the attacker finds nothing."""
    needs("c")
    case = [{"stdin": "2 3\n", "stdout": "5\n"}]
    victims = [
        SandboxJob(code=VICTIM, language="c", io_cases=case, limits=LIMITS) for _ in range(2)
    ]
    attacker = SandboxJob(code=ATTACKER, language="c", io_cases=case, limits=LIMITS)
    results = native.run_many([victims[0], attacker, victims[1]])
    assert [r.verdict for r in (results[0], results[2])] == ["passed", "passed"], [
        r.tests for r in results
    ]
    assert results[1].verdict == "wrong_answer", (results[1].message, results[1].tests)
    assert "Your output:\n4" in results[1].tests[0]["message"]
    assert_nothing_outlived_the_run()


# Says its uid and what /work held besides its program when it started, then leaves a file, a directory and a
# changed program behind (the expected output never matches: the judge's message shows what it printed)
LEAVES_TRACES = r"""#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void) {
    printf("uid %d found", (int)getuid());
    DIR *d = opendir("/work");
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "program"))
            printf(" %s", e->d_name);
    puts("");
    FILE *f = fopen("/work/left-behind", "w");
    if (f) fputs("a grading's answer\n", f), fclose(f);
    mkdir("/work/dir-behind", 0777);
    chmod("/work/program", 0777);
    return 0;
}
"""


def test_a_handler_serves_gradings_one_after_another_and_each_finds_work_as_it_began(
    native: NativeGrader,
):
    """A handler is kept for the next grading (its fork and mount namespace cost more than the cases of a
    millisecond program): one after the other, gradings share its uid, and none finds what the last left."""
    needs("c")
    job = SandboxJob(
        code=LEAVES_TRACES, language="c", io_cases=[{"stdin": "", "stdout": "?\n"}], limits=LIMITS
    )
    said = [printed(native.run(job)) for _ in range(6)]
    assert all(re.fullmatch(r"uid \d+ found", line) for line in said), said
    uids = [int(line.split()[1]) for line in said]
    assert len(set(uids)) < len(uids), f"every grading had a handler of its own: {uids}"
    assert_nothing_outlived_the_run()


def test_jobs_one_after_another_share_a_connection_to_the_warm_judge_and_one_it_closed_is_not_a_fault(
    native: NativeGrader,
):
    """The client keeps its connection to the warm judge for the next job. One the judge has closed meanwhile (idle
    too long, or the judge restarted) costs the job nothing: it goes on a new connection."""
    needs("c")
    job = SandboxJob(code=PROGRAMS["c"]["right"], language="c", io_cases=SUM_CASES, limits=LIMITS)
    assert native.run(job).judge in ("", "warm")  # compiled (forked), or already in the cache
    sandbox = native.sandbox
    assert native.run(job).judge == "warm"
    kept = [writer for _, _, writer in sandbox._warm_idle]
    assert kept, "the connection was kept"
    for _ in range(3):
        assert native.run(job).judge == "warm"
        assert [writer for _, _, writer in sandbox._warm_idle] == kept, "the same connection again"

    async def closed_by_the_judge() -> None:
        ours, theirs = socket.socketpair()
        theirs.close()  # as the judge closes an idle connection: the client has not read the end yet
        reader, writer = await asyncio.open_unix_connection(sock=ours)
        sandbox._warm_idle.append((asyncio.get_running_loop(), reader, writer))

    native.loop.run(closed_by_the_judge())
    result = native.run(job)
    assert result.judge == "warm" and result.verdict == "passed", (result.judge, result.message)


@contextlib.contextmanager
def own_server(loop, tmp_path, **options) -> Iterator[tuple[NativeGrader, int]]:
    """A sandbox server of the test's own (it is harmed, or made otherwise): a grader, and the server's pid."""
    sandbox = loop.run(Sandbox("forkserver", compile_cache_dir=str(tmp_path), **options).start())
    try:
        assert sandbox._server is not None
        yield NativeGrader(loop, sandbox, str(tmp_path)), sandbox._server.pid
    finally:
        loop.run(sandbox.close())


def test_without_its_warm_supervisor_a_server_grades_the_usual_way(loop, tmp_path):
    """The supervisor ended (killed here): C gradings are served in namespaces of their own, and pass."""
    needs("c")
    with own_server(loop, tmp_path) as (grader, server):
        supervisor = warm.outside_root(server)
        assert warm_uids(grader, WHO_AM_I, 1)[0] >= 1
        for pid in pids_of(supervisor):
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pids_of(supervisor), 5, "the warm supervisor to end")
        assert warm_uids(grader, WHO_AM_I, 2) == [0, 0]
        right = grader.run(
            SandboxJob(code=PROGRAMS["c"]["right"], language="c", io_cases=SUM_CASES, limits=LIMITS)
        )
        assert right.verdict == "passed", right.tests
    assert_nothing_outlived_the_run()


def test_without_its_warm_judge_a_server_grades_with_forked_judges(loop, tmp_path):
    """The warm judge ended (killed here): each job goes to a judge forked for it, whose cases still run warm."""
    needs("c")
    with own_server(loop, tmp_path) as (grader, server):
        job = SandboxJob(
            code=PROGRAMS["c"]["right"], language="c", io_cases=SUM_CASES, limits=LIMITS
        )
        assert [grader.run(job).judge for _ in range(2)] == ["", "warm"]
        warm_judges = [pid for pid, uid in processes() if uid == 0 and parent_of(pid) == server]
        assert warm_judges, "the server started its warm judge"
        for pid in warm_judges:
            os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda: not any(parent_of(p) == server for p in warm_judges), 5, "the warm judge to end"
        )
        again = grader.run(job)
        assert (again.verdict, again.judge) == ("passed", ""), again.tests
        assert 1 <= warm_uids(grader, WHO_AM_I, 1)[0] <= warm.SLOTS, "the cases still run warm"
    assert_nothing_outlived_the_run()


def status_field(pid: int | str, field: str) -> int | None:
    """The first number of a process's /proc status line `field` ("Uid:", "PPid:"); None once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith(field)), "")
    return int(line.split()[1]) if line else None


def parent_of(pid: int) -> int:
    parent = status_field(pid, "PPid:")
    return 0 if parent is None else parent


def uid_of(pid: int) -> int:
    uid = status_field(pid, "Uid:")
    return -1 if uid is None else uid


def test_a_server_told_not_to_keep_warm_namespaces_starts_none(loop, tmp_path):
    needs("c")
    with own_server(loop, tmp_path, warm_native=False) as (grader, server):
        assert not pids_of(warm.outside_root(server))
        assert warm_uids(grader, WHO_AM_I, 1) == [0]


def process_uids() -> list[int]:
    return [uid for _, uid in processes()]


def pids_of(uid: int) -> list[int]:
    return [pid for pid, owner in processes() if owner == uid]


def processes() -> list[tuple[int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (uid := status_field(entry.name, "Uid:")) is not None:
            found.append((int(entry.name), uid))
    return found


def test_a_compiled_program_is_graded_by_the_warm_judge_and_a_compile_by_a_forked_one(
    native: NativeGrader,
):
    """The first grading of a program compiles it: a judge forked for it does. Every later one finds it in the
    compile cache and the warm judge grades it without a fork, with the same verdicts and feedback: right, wrong,
    a crash, a limit, a compile error (cached too), function tests through the driver."""
    needs("c")
    marker = f"/* {uuid.uuid4()} */\n"
    for language in ("c", "cpp"):
        needs(language)
        for kind in ("right", "wrong", "time_limit", "compile_error"):
            job = SandboxJob(
                code=marker + PROGRAMS[language][kind],
                language=language,
                io_cases=SUM_CASES,
                limits=LIMITS,
            )
            first, again = native.run(job), native.run(job)
            assert (first.judge, again.judge) == ("", "warm"), (language, kind)
            assert again.verdict == first.verdict, (language, kind, again.message)
            assert again.message == first.message and again.tests == first.tests
            assert again.compile["cached"] is True
        for kind in ("function_right", "function_wrong"):
            job = SandboxJob(
                code=marker + PROGRAMS[language][kind],
                language=language,
                io_cases=[],
                test_code=PROGRAMS[language]["driver"],
                function_tests=FUNCTION_TESTS,
                limits=LIMITS,
            )
            first, again = native.run(job), native.run(job)
            assert (first.judge, again.judge) == ("", "warm"), (language, kind)
            assert (again.verdict, again.tests) == (first.verdict, first.tests), (language, kind)
            assert again.verdict == ("passed" if kind == "function_right" else "wrong_answer")
    # Not Python, nor a language whose runs need namespaces of their own
    assert native.run(SandboxJob(code="def f():\n    return 1\n", io_cases=[])).judge == ""
    assert_nothing_outlived_the_run()
