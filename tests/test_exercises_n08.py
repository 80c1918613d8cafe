"""Exercises of notebook 08."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_majority_accuracy": (([0, 1, 1], [1, 1, 0]), 2 / 3),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
