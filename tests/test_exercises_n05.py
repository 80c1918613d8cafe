"""Exercises of notebook 05."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_label = np.random.default_rng(0).integers(0, 3, (4, 5, 6))
INPUTS = {
    "check_median_frequency": (([_label], 3), None),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
