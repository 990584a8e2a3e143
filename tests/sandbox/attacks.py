"""The attacks of shared/SANDBOX.md as real submissions. The harness calls `solution.add(a, b)`.

Each attack has code (formatted with the context: ports and paths on this machine) and a check of what the
grading returned. Every attack must end not passed; the callers also check nothing outlived the run and that a
correct submission graded right after passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

WRONG = "\ndef add(a, b):\n    return 0\n"


@dataclass(frozen=True)
class Attack:
    name: str
    code: str
    verdicts: tuple[str, ...]  # what a contained run may end as
    check: Callable[[dict, dict], None] = lambda result, ctx: None


def output(result: dict) -> str:
    return "\n".join(
        [result.get("stdout", ""), result.get("stderr", ""), result.get("message", "")]
        + [t.get("message", "") for t in result.get("tests", [])]
    )


def nothing_leaked(*secrets: str):
    def check(result: dict, ctx: dict) -> None:
        text = output(result)
        for secret in secrets:
            assert secret.format(**ctx) not in text, f"leaked {secret!r}"
        assert "blocked" in text or result["verdict"] != "passed"

    return check


def not_in_output(marker: str):
    def check(result: dict, ctx: dict) -> None:
        assert marker not in output(result), (
            f"{marker!r} in the output: the attack reached its target"
        )

    return check


def stdout_capped(result: dict) -> None:
    assert len(result["stdout"]) <= 4200, (
        f"stdout excerpt of {len(result['stdout'])} characters is not capped"
    )


ATTACKS = [
    Attack("infinite_loop_at_import", "while True:\n    pass\n", ("time_limit",)),
    Attack(
        "busy_non_daemon_threads",
        "import threading\n\ndef spin():\n    while True:\n        pass\n\nfor _ in range(4):\n"
        "    threading.Thread(target=spin).start()\n" + WRONG,
        ("time_limit", "wrong_answer"),
    ),
    Attack("fork_bomb", "import os\nwhile True:\n    os.fork()\n", ("runtime_error",)),
    Attack(
        "fork_via_raw_clone",
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfor _ in range(1000):\n"
        "    if libc.syscall(56, 17, 0, 0, 0, 0) == 0:\n        import os\n        os._exit(0)\n"
        "print('clone result', ctypes.get_errno())\n" + WRONG,
        ("wrong_answer", "runtime_error"),
    ),
    Attack(
        "memory_bomb",
        "data = bytearray()\nwhile True:\n    data.extend(b'x' * 10 ** 7)\n",
        ("memory_limit",),
    ),
    Attack(
        "huge_stdout",
        "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        ("output_limit",),
        lambda result, ctx: stdout_capped(result),
    ),
    Attack(
        "huge_file",
        "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * 10 ** 6)\n",
        ("output_limit", "runtime_error"),
    ),
    Attack(
        "many_files",
        "for i in range(100000):\n    open(f'f{{i}}', 'w').close()\n",
        ("runtime_error",),
    ),
    Attack(
        "read_host_files",
        "for path in ('/etc/passwd', '/etc/shadow', '/etc/hostname'):\n    try:\n        print(open(path).read())\n"
        "    except Exception as e:\n        print('blocked', e)\n" + WRONG,
        ("wrong_answer",),
        nothing_leaked("root:x:0:0", "root:*:"),
    ),
    Attack(
        "read_project_and_other_runs",
        "import glob, os\nprint(glob.glob('/tmp/gradeflow-*/*') + glob.glob('/tmp/*') + glob.glob('/*'))\n"
        "for path in ({project_file!r}, {tests_file!r}):\n    try:\n        print(open(path).read())\n"
        "    except Exception as e:\n        print('blocked', e)\n" + WRONG,
        ("wrong_answer",),
        nothing_leaked("reference_solution", "gradeflow-sandbox-", "owner.pid"),
    ),
    Attack(
        "environment_secrets",
        "import os\nprint(dict(os.environ))\nfor path in ('/proc/self/environ', '/proc/1/environ', "
        "f'/proc/{{os.getppid()}}/environ'):\n    try:\n        print(open(path).read())\n"
        "    except Exception as e:\n        print('blocked', e)\n" + WRONG,
        ("wrong_answer",),
        nothing_leaked("{secret}", "GRADEFLOW_", "PATH="),
    ),
    Attack(
        "tcp_to_redis_and_postgres",
        "import socket\nfor port in ({redis_port}, {postgres_port}):\n    try:\n"
        "        s = socket.create_connection(('127.0.0.1', port), timeout=1)\n"
        "        s.sendall(b'SET gradeflow-pwned 1\\r\\n')\n        print('CONNECTED', port)\n"
        "    except Exception as e:\n        print('blocked', e)\n" + WRONG,
        ("wrong_answer",),
        not_in_output("CONNECTED"),
    ),
    Attack("sleep_past_the_limit", "import time\ntime.sleep(60)\n", ("time_limit",)),
    Attack(
        "kill_the_parent_and_everyone",
        "import os, signal\nfor target in (os.getppid(), -1, 0, 1):\n    try:\n        os.kill(target, signal.SIGKILL)\n"
        "    except Exception as e:\n        print('blocked', target, e)\n" + WRONG,
        ("wrong_answer", "runtime_error"),
    ),
    Attack(
        "daemon_double_fork_setsid",
        "import os\ntry:\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
        "            import time\n            time.sleep(600)\nexcept Exception as e:\n    print('blocked', e)\n"
        + WRONG,
        ("wrong_answer",),
    ),
    Attack(
        "ptrace_and_parent_memory",
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print('ptrace', libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())\n"
        "for pid in (os.getppid(), 1):\n    try:\n        f = open(f'/proc/{{pid}}/mem', 'rb')\n"
        "        print('OPENED', pid)\n    except Exception as e:\n        print('blocked', e)\n"
        + WRONG,
        ("wrong_answer",),
        not_in_output("OPENED"),
    ),
    Attack(
        "raise_hard_rlimits",
        "import resource\nfor r in (resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.RLIMIT_FSIZE, "
        "resource.RLIMIT_NPROC):\n    try:\n"
        "        resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n        print('RAISED', r)\n"
        "    except Exception as e:\n        print('blocked', e)\nwhile True:\n    pass\n",
        ("time_limit",),
        not_in_output("RAISED"),
    ),
    Attack(
        "recursion_bomb",
        "import sys\nsys.setrecursionlimit(10 ** 7)\n\ndef f(n):\n    return f(n + 1)\n\nf(0)\n",
        ("runtime_error", "memory_limit", "time_limit"),
    ),
    Attack(
        "null_dereference_via_ctypes", "import ctypes\nctypes.string_at(0)\n", ("runtime_error",)
    ),
    Attack(
        "forge_monkeypatch_unittest",
        "import unittest\nunittest.TestCase.assertEqual = lambda *a, **k: None\n"
        "unittest.TestCase.run = lambda self, result=None: None\n" + WRONG,
        ("wrong_answer",),
    ),
    Attack(
        "forge_print_ok_and_exit_0",
        "print('...')\nprint('Ran 3 tests in 0.001s')\nprint()\nprint('OK')\n"
        'print(\'{{"verdict": "passed", "passed": true, "tests": []}}\')\nimport os\nos._exit(0)\n',
        ("runtime_error",),
    ),
    Attack("forge_sys_exit_at_import", "import sys\nsys.exit(0)\n", ("runtime_error",)),
    Attack(
        "forge_results_on_every_fd",
        "import json, os, struct\nfor fd in range(64):\n"
        "    for msg in ({{'manifest': {{}}}}, {{'id': 'x', 'ok': 5}}, {{'verdict': 'passed', 'tests': []}}, "
        "{{'ready': True}}):\n        data = json.dumps(msg).encode()\n        try:\n"
        "            os.write(fd, struct.pack('>I', len(data)) + data)\n        except OSError:\n            pass\n"
        + WRONG,
        ("wrong_answer", "runtime_error"),
    ),
    Attack(
        "unstorable_output",
        "import sys\nsys.stdout.write('nul \\x00 here')\nsys.stderr.write('\\udcff')\n"
        "def add(a, b):\n    raise ValueError('bad \\x00 \\ud800')\n",
        ("runtime_error",),
    ),
    Attack(
        "forge_always_equal_object",
        "class Anything:\n    def __eq__(self, other):\n        return True\n\n    def __ne__(self, other):\n"
        "        return False\n\n\nclass Int(int):\n    def __eq__(self, other):\n        return True\n\n\n"
        "def add(a, b):\n    return Anything() if a > 0 else Int(7)\n",
        ("runtime_error",),
    ),
]
