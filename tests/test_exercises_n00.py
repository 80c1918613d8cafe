"""Exercises of notebook 00: each check's contract (see tests/_helpers.py)."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {  # name: (arguments after the answer, a right answer)
    "check_preset_choice": ((), "binder"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
