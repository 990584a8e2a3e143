"""C (C17) with gcc: compiled once per distinct source (and driver), the binary run per test."""

from __future__ import annotations

import os
from typing import ClassVar

from gradeflow.languages.base import (
    BASE_ENV,
    WORK,
    Language,
    Limits,
    Program,
    Toolchain,
    realpaths,
    system_libraries,
)

# The driver's main wins over the student's (a main they kept for their own testing is not an error).
MULTIPLE_MAIN = "-Wl,--allow-multiple-definition"


class C(Language):
    name = "c"
    title = "C (C17, gcc)"
    ace_mode = "c_cpp"
    lexer = "c"
    source_name = "solution.c"
    driver_name = "driver.c"
    compiler = "gcc"
    standard = "-std=c17"
    libraries: tuple[str, ...] = ("-lm",)
    install_hint = "Debian: apt-get install gcc"
    warm_runs = True  # (C++ too) a binary that needs only the C and C++ libraries
    memory_markers: ClassVar[tuple[str, ...]] = ("Cannot allocate memory", "out of memory")
    starter = (
        "#include <stdio.h>\n\nint main(void) {\n"
        '    int a, b;\n    if (scanf("%d %d", &a, &b) == 2) {\n        printf("%d\\n", a + b);\n'
        "    }\n    return 0;\n}\n"
    )
    probe_source = starter

    def find_toolchain(self) -> Toolchain:
        compiler = self.which(self.compiler, self.install_hint)
        version = self.version_of([compiler, "--version"])
        # The compiler driver finds cc1/cc1plus, as and ld through its own prefix and PATH.
        compile_mounts = realpaths(
            "/usr/bin",
            "/usr/lib/gcc",
            "/usr/libexec/gcc",
            "/usr/include",
            "/usr/lib/bfd-plugins",
            *system_libraries(),
        )
        return Toolchain(
            self.name, version, {"compiler": compiler}, compile_mounts, system_libraries()
        )

    def compile_program(self, toolchain: Toolchain, code: str, driver: str) -> Program:
        sources = [self.driver_name] if driver else []
        sources.append(self.source_name)
        argv = [
            os.path.join("/usr/bin", self.compiler),
            self.standard,
            "-O2",
            "-pipe",
            "-fdiagnostics-color=never",
            "-fmax-errors=20",
            *([MULTIPLE_MAIN] if driver else []),
            "-o",
            "program",
            *sources,
            *self.libraries,
        ]
        return Program(
            argv, dict(BASE_ENV), self.sources(code, driver), collect=("program",), may_fork=True
        )

    def run_program(
        self, toolchain: Toolchain, artifact: dict[str, bytes], limits: Limits, driver: str
    ) -> Program:
        return Program([f"{WORK}/program"], dict(BASE_ENV), artifact)
