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


# `python -m gradeflow.priority N command...`: run a command with lower priority
if __name__ == "__main__":
    import sys

    lower_priority(int(sys.argv[1]))
    os.execvp(sys.argv[2], sys.argv[2:])
