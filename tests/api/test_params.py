"""Text at the edge: what PostgreSQL cannot store is refused with words that say where and what."""

from __future__ import annotations

import json

import pytest

from api.params import storable
from api.routes.assignments.schemas import AssignmentUpdate
from api.routes.cohorts.schemas import OfferingIn


def test_storable_text_refuses_nul_and_lone_surrogates_only():
    assert storable("héllo ✓ 𝄞") == "héllo ✓ 𝄞"  # any real character, astral ones included
    with pytest.raises(ValueError, match="NUL"):
        storable("a\x00b")
    with pytest.raises(ValueError, match=r"character 2 is a lone surrogate \(\\ud800\)"):
        storable(json.loads('"a\\ud800b"'))
    # A pair written as two escapes is one character, and fine
    assert storable(json.loads('"\\ud834\\udd1e"')) == "𝄞"


def test_a_partial_update_knows_what_was_left_out_from_what_was_cleared():
    terms = OfferingIn.model_validate({"due_at": None, "max_submissions": 3})
    assert terms.model_dump(exclude_unset=True) == {"due_at": None, "max_submissions": 3}
    with pytest.raises(ValueError, match="cannot be null"):
        AssignmentUpdate.model_validate({"title": None})
    assert AssignmentUpdate.model_validate({"reference_solution": None}).model_dump(
        exclude_unset=True
    ) == {"reference_solution": None}
