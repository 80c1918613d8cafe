"""Exercises of notebook 03."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_volume = np.random.default_rng(0).normal(size=(4, 5, 6))
_mask = _volume > 0
INPUTS = {
    "check_masked_whitening": ((_volume, _mask),
                               (_volume - _volume[_mask].mean()) / _volume[_mask].std()),
    "check_brain_window": ((), (0, 80)),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
