"""Lower a process's CPU priority, so that where roles share a machine the API and the databases come first."""

from __future__ import annotations

import os
from pathlib import Path

AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(niceness: int) -> None:
    """Add `niceness` to this process's nice value. Linux schedules each session (autogroup) as one unit and
    applies nice values only within it, so a role started in its own session (as `gradeflow up` starts them) lowers
    its session's weight too; without that, a nice value changes nothing against the other roles."""
    if niceness <= 0:
        return
    os.nice(niceness)
    try:
        current = int(AUTOGROUP.read_text().split("nice")[1])
        AUTOGROUP.write_text(str(min(19, current + niceness)))
    except (OSError, ValueError, IndexError):  # no autogroups: the nice value above is what counts
        pass


def session_at_own_nice() -> None:
    """Give the session this process just started (setsid) the process's own nice value. A new session starts at
    nice 0 however low the process that made it: each sandbox run would otherwise weigh on the scheduler as much as
    the whole API, however far the worker is niced below it, and a regrade's runs as much as live ones (measured:
    BENCHMARKS.md, "The live path, step by step"). Only a process allowed CAP_SYS_ADMIN may do this often (the
    kernel rate-limits everyone else to one change in 100 ms machine-wide): the grader does it, before it drops its
    privileges."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice <= 0:
        return
    try:
        AUTOGROUP.write_text(str(min(19, nice)))
    except OSError:  # no autogroups (or not allowed): the nice value the process has is what counts
        pass


# `python -m gradeflow.priority N command...`: run a command with lower priority
if __name__ == "__main__":
    import sys

    lower_priority(int(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
