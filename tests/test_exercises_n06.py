"""Exercises of notebook 06."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_window_count": (((48, 56, 48), 24, 0.5), 36),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
