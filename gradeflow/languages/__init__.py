"""The languages GradeFlow grades: one module each (python, c, cpp, java, javascript), listed here.

Adding a language is one module defining a `Language` subclass (file names, compile and run commands, limits, the
runtime's words for running out of memory, the editor's mode, the similarity lexer) plus its line in `LANGUAGES` and
its tests; see the README's "Adding a language".
"""

from __future__ import annotations

from typing import Any

from gradeflow.languages.base import (
    COMPILE_BOUNDS,
    COMPILE_DEFAULTS,
    Language,
    Limits,
    Program,
    Toolchain,
    ToolchainMissing,
)
from gradeflow.languages.c import C
from gradeflow.languages.cpp import Cpp
from gradeflow.languages.java import Java
from gradeflow.languages.javascript import JavaScript
from gradeflow.languages.python import Python

LANGUAGES: dict[str, type[Language]] = {cls.name: cls for cls in (Python, C, Cpp, Java, JavaScript)}
NAMES = tuple(LANGUAGES)
DEFAULT = Python.name


def get(name: str, options: dict[str, Any] | None = None) -> Language:
    try:
        cls = LANGUAGES[name]
    except KeyError:
        raise ValueError(
            f"unknown language {name!r}: GradeFlow grades {', '.join(NAMES)}"
        ) from None
    return cls(options=dict(options or {}))


_found: dict[str, Toolchain | ToolchainMissing] = {}


def toolchain(name: str) -> Toolchain:
    """This machine's toolchain for a language (looked up once per process); ToolchainMissing says what to install."""
    if name not in _found:
        try:
            _found[name] = get(name).find_toolchain()
        except ToolchainMissing as exc:
            _found[name] = exc
    found = _found[name]
    if isinstance(found, ToolchainMissing):
        raise found
    return found


def available() -> dict[str, str]:
    """Every language this machine can grade, with its toolchain's version."""
    out = {}
    for name in NAMES:
        try:
            out[name] = toolchain(name).version
        except ToolchainMissing:
            continue
    return out


def missing() -> dict[str, str]:
    """Every language this machine cannot grade, with what is missing."""
    out = {}
    for name in NAMES:
        try:
            toolchain(name)
        except ToolchainMissing as exc:
            out[name] = str(exc)
    return out


__all__ = [
    "COMPILE_BOUNDS",
    "COMPILE_DEFAULTS",
    "DEFAULT",
    "LANGUAGES",
    "NAMES",
    "Language",
    "Limits",
    "Program",
    "Toolchain",
    "ToolchainMissing",
    "available",
    "get",
    "missing",
    "toolchain",
]
