"""Exercises of notebook 07."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_truth, _train = np.array([30.0, 50.0, 70.0]), np.array([40.0, 60.0])
INPUTS = {
    "check_baseline_mae": ((_truth, _train), np.mean(np.abs(_truth - 50.0))),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
