"""Python: graded in the judge's own warm interpreter (sandbox.inside), function tests through the unittest proxy.
No compile step: a syntax error is the verdict `syntax_error`."""

from __future__ import annotations

import sys

from gradeflow.languages.base import Language, Toolchain


class Python(Language):
    name = "python"
    title = "Python 3"
    ace_mode = "python"
    lexer = "python"
    compiled = False
    source_name = "solution.py"
    memory_markers = ("MemoryError",)
    starter = ""

    def find_toolchain(self) -> Toolchain:
        version = f"python {sys.version.split()[0]}"
        return Toolchain(self.name, version, {}, (), ())
