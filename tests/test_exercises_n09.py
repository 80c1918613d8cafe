"""Exercises of notebook 09."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_volume = np.random.default_rng(0).normal(size=(4, 5, 6))
INPUTS = {
    "check_psnr": ((_volume + 0.1, _volume), 10 * np.log10(np.ptp(_volume) ** 2 / 0.01)),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
