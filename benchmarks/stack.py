"""A whole GradeFlow stack for a benchmark: gradeflow.launch.local_stack without the demo course, under a
directory of its own, the roles started with the settings given."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gradeflow.launch.roles import Stack, local_stack


@contextlib.contextmanager
def bench_stack(**env: str) -> Iterator[Stack]:
    with local_stack(Path(tempfile.mkdtemp(prefix="gradeflow-bench-")), demo=False, **env) as stack:
        yield stack
