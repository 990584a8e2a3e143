"""GradeFlow's words are declared once, in gradeflow/vocabulary.py: a status, role, verdict, rule, review or hold
written as a string anywhere else is a word that can drift from the one the database, the API and the dashboard
use. This test parses the code and fails on such a string, wherever it stands as a value (a comparison, an
argument, an assignment, a collection, SQL text). A string that stands as a name is left alone: a dict key, a
subscript, an attribute looked up by name, a key looked for in a mapping; and a line whose comment says
`# plain word` (a column's title for people, say)."""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

from gradeflow import vocabulary

ROOT = Path(__file__).resolve().parents[2]
CHECKED = [
    "gradeflow",
    "api",
    "worker",
    "workflows",
    "activities",
    "sandbox",
    "dashboard",
    "benchmarks",
]
# The sandbox's inside runs in the student's process and imports nothing of GradeFlow
EXEMPT = {"gradeflow/vocabulary.py", "sandbox/inside.py"}
# A line that uses a vocabulary word as a plain word (a column's title for people) says so in a comment
PLAIN = "# plain word"
# Calls one of whose arguments names a key, a column or an attribute, not a value: which one
BY_NAME = {
    "get": 0,
    "pop": 0,
    "setdefault": 0,
    "label": 0,
    "set_index": 0,
    "getattr": 1,
    "hasattr": 1,
}


def words() -> dict[str, str]:
    """Every vocabulary value -> the enum members that hold it."""
    found: dict[str, list[str]] = {}
    for name in sorted(dir(vocabulary)):
        enum = getattr(vocabulary, name)
        if isinstance(enum, type) and issubclass(enum, StrEnum) and enum is not StrEnum:
            for member in enum:
                found.setdefault(member.value, []).append(f"{name}.{member.name}")
    return {value: " or ".join(members) for value, members in found.items()}


WORDS = words()
# A word quoted inside SQL text: status = 'queued', IN ('queued', 'grading')
IN_SQL = re.compile(r"'(" + "|".join(map(re.escape, WORDS)) + r")'")


def named(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether the string stands as a name (a key, a subscript, an attribute's name)."""
    child, parent = node, parents.get(node)
    # A subscript, also a list or tuple of them: frame[["graded", "failed"]]
    while isinstance(parent, ast.List | ast.Tuple) and isinstance(
        parents.get(parent), ast.Subscript
    ):
        child, parent = parent, parents.get(parent)
    if isinstance(parent, ast.Subscript) and parent.slice is child:
        return True
    # A key looked for in a mapping: "error" in reply
    if (
        isinstance(parent, ast.Compare)
        and parent.left is child
        and isinstance(parent.ops[0], ast.In | ast.NotIn)
    ):
        return True
    if isinstance(parent, ast.Dict) and child in parent.keys:
        return True
    # The words for people in a table keyed by the vocabulary: {SubmissionStatus.GRADED: "graded"}
    if isinstance(parent, ast.Dict) and isinstance(
        parent.keys[parent.values.index(child)], ast.Attribute
    ):
        return True
    if isinstance(parent, ast.Call) and child in parent.args:
        func = parent.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        return name in BY_NAME and parent.args.index(child) == BY_NAME[name]
    return False


def loose_words(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    # A docstring is prose
    prose = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        if id(node) in prose or PLAIN in lines[node.lineno - 1]:
            continue
        where = f"{path.relative_to(ROOT)}:{node.lineno}"
        if node.value in WORDS and not named(node, parents):
            found.append(f"{where}: {node.value!r} is {WORDS[node.value]}")
        for word in IN_SQL.findall(node.value) if node.value not in WORDS else []:
            found.append(f"{where}: '{word}' written in SQL is {WORDS[word]} (bind it)")
    return found


def test_no_vocabulary_value_is_written_as_a_string_outside_the_vocabulary():
    found = [
        line
        for package in CHECKED
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in EXEMPT
        for line in loose_words(path)
    ]
    assert not found, "use the vocabulary's enums:\n" + "\n".join(found)


def test_the_check_finds_a_status_written_in_a_route(tmp_path):
    route = tmp_path / "route.py"
    route.write_text(
        "def f(s, rows):\n"
        "    if s.status == 'graded':\n"
        "        return [r for r in rows if r['status'] in ('queued', 'grading')]\n"
        "    return {'status': 'error', 'graded': r['graded']}\n"
        "Q = \"SELECT 1 FROM submissions WHERE status = 'queued'\"\n"
    )
    found = loose_words_at(route)
    assert [line.split(": ", 1)[1] for line in found] == [
        "'graded' is SubmissionStatus.GRADED",
        "'queued' is BatchStatus.QUEUED or ReportStatus.QUEUED or SubmissionStatus.QUEUED",
        "'grading' is SubmissionStatus.GRADING",
        "'error' is SubmissionStatus.ERROR",
        "'queued' written in SQL is BatchStatus.QUEUED or ReportStatus.QUEUED or SubmissionStatus.QUEUED "
        "(bind it)",
    ]


def loose_words_at(path: Path) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, path.parent
    try:
        return sorted(loose_words(path), key=lambda line: int(line.split(":")[1]))
    finally:
        ROOT = saved
