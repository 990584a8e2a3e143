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
# Freestanding and static: no C library, no dynamic loading (spawn.c says why); and no call the compiler would
# invent for a loop or a copy (there is no memset to call)
FLAGS = [
    "-O2",
    "-Wall",
    "-Werror",
    "-static",
    "-nostdlib",
    "-ffreestanding",
    "-fno-builtin",
    "-fno-stack-protector",
    "-fno-tree-loop-distribute-patterns",
    "-fno-pie",
    "-no-pie",
]


def build(directory: str) -> str | None:
    """The spawner's path under `directory` (built now unless an identical build is there), or None."""
    return build_c(directory, SOURCE, FLAGS, "gradeflow-spawn")


def build_c(directory: str, source_path: Path, flags: list[str], stem: str) -> str | None:
    """A C program of the sandbox's (the spawner, the warm supervisor) built under `directory` as `stem`-<hash of
    its source and flags>, unless an identical build is there; None without a C compiler or when the build fails."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None or not source_path.exists():
        return None
    source = source_path.read_bytes()
    recipe = source + " ".join(flags).encode()
    target = Path(directory) / f"{stem}-{hashlib.sha256(recipe).hexdigest()[:16]}"
    if target.exists():
        return str(target)
    partial = target.with_suffix(f".tmp-{os.getpid()}")
    try:
        done = subprocess.run(
            [compiler, *flags, "-o", str(partial), str(source_path)],
            capture_output=True,
            timeout=BUILD_SECONDS,
            env={"PATH": os.environ.get("PATH") or "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if (
        done is None or done.returncode != 0
    ):  # not x86_64, or an odd compiler: the slower way is taken
        partial.unlink(missing_ok=True)
        return None
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return str(target)
