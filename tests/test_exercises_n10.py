"""Exercises of notebook 10."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_low_res_shape": (((48, 56, 44), 4), [12, 14, 11]),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
