"""Exercises of notebook 02."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_batch_megabytes": (((8, 16, 16), 3), 8 * 16 * 16 * 3 * 4 / 2**20),
    "check_io_bound": (({"memory": 0.1, "generator": 0.3}, 0.2), ["generator"]),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
