"""Reading a roster CSV (pure logic; importing one is tested against the stack in tests/integration)."""

from __future__ import annotations

import pytest

from gradeflow.accounts import AccountError
from gradeflow.roster import parse


def test_line_ends_as_any_spreadsheet_writes_them():
    for text in ("name,email\nalice,a@x.edu\nbob,\n", "name,email\r\nalice,a@x.edu\r\nbob,\r\n"):
        assert [(r.name, r.email) for r in parse(text)] == [("alice", "a@x.edu"), ("bob", None)]
    assert [r.name for r in parse("\ufeffname\ralice\rbob\r")] == ["alice", "bob"]


def test_what_is_not_a_roster_is_an_error_that_says_why():
    with pytest.raises(AccountError, match="first row must name its columns"):
        parse("\r\u00a9tT")
    with pytest.raises(AccountError, match="unknown column"):
        parse("name,phone\nalice,123\n")
