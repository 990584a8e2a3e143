"""Where the CPU goes during a benchmark: seconds of CPU per part of the stack, read from /proc before and after.

A part is a process session (each role and embedded server is started in a session of its own), so a process
and every child it waits for count together. Sandbox runs are not among them: the fork server has its children
reaped automatically (SIGCHLD ignored), and the kernel then counts their CPU to nobody. Their share is what the
whole machine spent (/proc/stat) minus every process seen, so it also holds anything else that ran meanwhile.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
REST = "sandbox runs and the rest (by difference)"


def _busy_seconds() -> float:
    """CPU seconds the machine spent doing anything but idling, since boot (all cores)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (session id, command line, CPU seconds of it and of its children it waited for)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # it exited meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # after the command: state ppid pgrp session ... utime(11) stime cutime cstime
        out[int(entry)] = (int(fields[3]), cmd, sum(int(x) for x in fields[11:15]) / TICK)
    return out


@dataclass
class Sample:
    busy: float
    processes: dict[int, tuple[int, str, float]]

    @classmethod
    def now(cls) -> Sample:
        return cls(_busy_seconds(), _processes())


def spent(before: Sample, after: Sample, sessions: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds per part between two samples. `sessions`: part -> the session id of its processes; processes
    of no listed session are named by their command (postgres, this load generator) or counted as the rest."""
    by_session = {sid: name for name, sid in sessions.items()}
    parts: dict[str, float] = defaultdict(float)
    seen = 0.0
    me = os.getsid(0)
    for pid, (sid, cmd, cpu) in after.processes.items():
        was = before.processes.get(pid)
        delta = cpu - (was[2] if was is not None and was[0] == sid else 0.0)
        if delta <= 0:
            continue
        if sid in by_session:
            name = by_session[sid]
        elif "postgres" in cmd:
            name = "postgres"
        elif sid == me:
            name = "load generator (this benchmark)"
        else:
            continue  # left to the rest
        parts[name] += delta
        seen += delta
    parts[REST] = max(after.busy - before.busy - seen, 0.0)
    return dict(parts)


def table(parts: Mapping[str, float], per: int, what: str) -> str:
    """A markdown table of CPU milliseconds per `what`, largest first."""
    total = sum(parts.values())
    rows = [f"| part | CPU ms per {what} | share |", "| --- | ---: | ---: |"]
    for name, seconds in sorted(parts.items(), key=lambda kv: -kv[1]):
        rows.append(f"| {name} | {1000 * seconds / per:.1f} | {seconds / total:.0%} |")
    rows.append(f"| all | {1000 * total / per:.1f} | 100% |")
    return "\n".join(rows)


def interpreter_start_ms(runs: int = 20) -> float:
    """How fast this machine is today: the median wall time of starting a bare interpreter (`python -I -S -c
    pass`). These shared machines differ from day to day by a quarter or more; figures from two days compare through it."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)
