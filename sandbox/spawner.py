"""The native spawner (sandbox/spawn.c): built once per sandbox server with the machine's C compiler, so the pid 1 of
a native grading starts each case with posix_spawn instead of forking itself (see spawn.c for why). Without a
compiler (a worker that grades Java or JavaScript only), or when the build fails, pid 1 forks as before: the
spawner is a speed-up, never a requirement.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("spawn.c")
BUILD_SECONDS = 60


def build(directory: str) -> str | None:
    """The spawner's path under `directory` (built now unless an identical build is there), or None."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not SOURCE.exists():
        return None
    source = SOURCE.read_bytes()
    target = Path(directory) / f"gradeflow-spawn-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.exists():
        return str(target)
    partial = target.with_suffix(f".tmp-{os.getpid()}")
    # Static where the C library allows it: an exec with no dynamic loading
    for extra in (["-static"], []):
        try:
            done = subprocess.run(
                [compiler, "-O2", "-Wall", *extra, "-o", str(partial), str(SOURCE)],
                capture_output=True,
                timeout=BUILD_SECONDS,
                env={"PATH": os.environ.get("PATH") or "/usr/bin:/bin"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode == 0:
            os.chmod(partial, 0o755)
            os.replace(partial, target)
            return str(target)
    partial.unlink(missing_ok=True)
    return None
