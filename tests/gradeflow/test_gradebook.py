"""The gradebook's rule and layouts, without a database."""

from __future__ import annotations

from gradeflow.gradebook import Column, Gradebook, Row, as_json, canvas_csv, grade, moodle_csv


def test_best_and_latest():
    assert grade([2.0, 9.5, 4.0], "best") == 9.5
    assert grade([2.0, 9.5, 4.0], "latest") == 4.0


BOOK = Gradebook(
    cohort="cs101",
    rule="best",
    assignments=[Column(1, "Hello", 10.0), Column(7, "Sum, again", 2.5)],
    students=[
        Row("ada", "ada@example.edu", "S1", {1: 10.0, 7: 1.25}),
        Row("bob", None, None, {}),
    ],
)


def test_canvas_layout():
    assert canvas_csv(BOOK).splitlines() == [
        'Student,ID,SIS User ID,SIS Login ID,Section,Hello (1),"Sum, again (7)"',
        "Points Possible,,,,,10,2.5",
        "ada,,S1,ada@example.edu,cs101,10,1.25",
        "bob,,,bob,cs101,,",
    ]


def test_moodle_layout():
    assert moodle_csv(BOOK).splitlines() == [
        'ID number,Email address,Username,Hello,"Sum, again"',
        "S1,ada@example.edu,ada,10,1.25",
        ",,bob,,",
    ]


def test_json_totals_and_missing_grades():
    book = as_json(BOOK)
    assert [s["total"] for s in book["students"]] == [11.25, 0]
    assert book["students"][1]["grades"] == {"1": None, "7": None}
    assert book["points_possible"] == 12.5
