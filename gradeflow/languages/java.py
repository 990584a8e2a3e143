"""Java 17 with OpenJDK: javac once per distinct source, the JVM started per test with its heap sized from the
memory limit (an address-space limit would stop the JVM at start: it reserves far more than it uses)."""

from __future__ import annotations

import os
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

PUBLIC_CLASS = re.compile(r"^\s*public\s+(?:(?:final|abstract|strictfp)\s+)*class\s+(\w+)", re.M)
# One processor's worth of GC and JIT threads, no performance-data file, the class-data archive for a fast start.
JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:ActiveProcessorCount=1",
    "-XX:-UsePerfData",
    "-Xshare:auto",
    "-XX:MaxMetaspaceSize=128m",
    "-XX:CompressedClassSpaceSize=64m",
    "-XX:ReservedCodeCacheSize=48m",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:+DisplayVMOutputToStderr",  # the JVM's own messages (running out of memory) never mix into stdout
)
# What the JVM maps beyond its heap (metaspace, code cache, thread stacks, GC tables), MiB: the data limit is the
# memory limit plus this, so the student's limit is the heap's.
JVM_OVERHEAD_MB = 768
STACK = "-Xss64m"  # deep recursion as in C, not Java's 1 MiB default


def public_class(source: str) -> str | None:
    found = PUBLIC_CLASS.search(source)
    return found.group(1) if found else None


class Java(Language):
    name = "java"
    title = "Java 17 (OpenJDK)"
    ace_mode = "java"
    lexer = "java"
    source_name = "Main.java"
    driver_name = "Driver.java"
    time_factor = 2.0
    memory_kind = "data"
    runtime_overhead_mb = JVM_OVERHEAD_MB
    install_hint = "Debian: apt-get install openjdk-17-jdk-headless"
    memory_markers = ("java.lang.OutOfMemoryError",)
    broken_markers = (
        *Language.broken_markers,
        "An exception has occurred in the compiler",
        "Error occurred during initialization of VM",
    )
    starter = (
        "import java.util.Scanner;\n\npublic class Main {\n"
        "    public static void main(String[] args) {\n"
        "        Scanner in = new Scanner(System.in);\n"
        "        long a = in.nextLong(), b = in.nextLong();\n"
        "        System.out.println(a + b);\n    }\n}\n"
    )
    probe_source = starter

    @property
    def main_class(self) -> str:
        return str(self.options.get("main_class") or "Main")

    def find_toolchain(self) -> Toolchain:
        javac = self.which("javac", self.install_hint)
        java = os.path.join(os.path.dirname(javac), "java")
        home = os.path.dirname(os.path.dirname(javac))
        version = self.version_of([javac, "-version"])
        # Debian keeps the JDK's configuration under /etc and links it from the JDK's home.
        config = os.path.dirname(os.path.realpath(os.path.join(home, "lib", "jvm.cfg")))
        mounts = realpaths(home, config, *system_libraries())
        return Toolchain(
            self.name, version, {"javac": javac, "java": java, "home": home}, mounts, mounts
        )

    @staticmethod
    def env(toolchain: Toolchain) -> dict[str, str]:
        # The launchers find libjli through $ORIGIN, which needs /proc (the sandbox has none): name it instead.
        return {**BASE_ENV, "LD_LIBRARY_PATH": os.path.join(toolchain.programs["home"], "lib")}

    def sources(self, code: str, driver: str) -> dict[str, bytes]:
        files = {f"{self.main_class}.java": code.encode()}
        if driver:
            files[f"{public_class(driver) or 'Driver'}.java"] = driver.encode()
        return files

    def compile_program(self, toolchain: Toolchain, code: str, driver: str) -> Program:
        files = self.sources(code, driver)
        argv = [
            toolchain.programs["javac"],
            *(f"-J{flag}" for flag in JVM_FLAGS if "OutOfMemory" not in flag),
            "-J-Xmx256m",
            "-encoding",
            "UTF-8",
            "-proc:none",
            "-Xmaxerrs",
            "20",
            "-d",
            ".",
            *sorted(files),
        ]
        return Program(
            argv,
            self.env(toolchain),
            files,
            collect=("*.class",),
            memory_kind=self.memory_kind,
            memory_overhead_mb=self.runtime_overhead_mb,
        )

    def run_program(
        self, toolchain: Toolchain, artifact: dict[str, bytes], limits: Limits, driver: str
    ) -> Program:
        entry = (public_class(driver) or "Driver") if driver else self.main_class
        argv = [
            toolchain.programs["java"],
            *JVM_FLAGS,
            f"-Xmx{limits.memory_mb}m",
            STACK,
            "-cp",
            WORK,
            entry,
        ]
        return Program(argv, self.env(toolchain), artifact)

    def error_line(self, stderr: str) -> str:
        # "Exception in thread "main" java.lang.…: …", before the stack trace
        for line in stderr.splitlines():
            if "Exception" in line or "Error" in line:
                return line.strip()[:500]
        return super().error_line(stderr)
