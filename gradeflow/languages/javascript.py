"""JavaScript on Node.js: CommonJS or ES modules (Node tells them apart), checked for syntax as the compile step,
with V8's heap sized from the memory limit."""

from __future__ import annotations

import re

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

THROWN = re.compile(r"^(?:Uncaught )?(?:[A-Z]\w*)?(?:Error|Exception)\b")
# What V8 maps beyond its old-space heap (code, young generation, the isolate), MiB.
NODE_OVERHEAD_MB = 512


class JavaScript(Language):
    name = "javascript"
    title = "JavaScript (Node.js)"
    ace_mode = "javascript"
    lexer = "javascript"
    source_name = "solution.js"
    driver_name = "driver.js"
    time_factor = 1.5
    memory_kind = "data"
    runtime_overhead_mb = NODE_OVERHEAD_MB
    install_hint = "Debian: apt-get install nodejs"
    memory_markers = (
        "JavaScript heap out of memory",
        "Reached heap limit",
        "Array buffer allocation failed",
        "Invalid array length",
        "Invalid string length",
    )
    starter = (
        "const input = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
        "console.log(input[0] + input[1]);\n"
    )
    probe_source = starter

    def find_toolchain(self) -> Toolchain:
        node = self.which("node", self.install_hint)
        version = self.version_of([node, "--version"])
        mounts = realpaths(node, *system_libraries())
        return Toolchain(self.name, f"node {version}", {"node": node}, mounts, mounts)

    def compile_program(self, toolchain: Toolchain, code: str, driver: str) -> Program:
        files = self.sources(code, driver)
        # `node --check` reads one file: the student's (a driver is the instructor's, checked when saved).
        argv = [toolchain.programs["node"], "--check", self.source_name]
        return Program(
            argv,
            dict(BASE_ENV),
            files,
            collect=tuple(sorted(files)),
            memory_kind=self.memory_kind,
            memory_overhead_mb=self.runtime_overhead_mb,
        )

    def run_program(
        self, toolchain: Toolchain, artifact: dict[str, bytes], limits: Limits, driver: str
    ) -> Program:
        entry = self.driver_name if driver else self.source_name
        argv = [
            toolchain.programs["node"],
            f"--max-old-space-size={limits.memory_mb}",
            "--stack-size=8000",
            f"{WORK}/{entry}",
        ]
        return Program(argv, dict(BASE_ENV), artifact)

    def error_line(self, stderr: str) -> str:
        for (
            line
        ) in stderr.splitlines():  # "TypeError: …", after the source excerpt and before the stack
            if THROWN.match(line):
                return self.diagnostics(line.strip())[:500]
        return super().error_line(stderr)
