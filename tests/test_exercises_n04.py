"""Exercises of notebook 04."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_rng = np.random.default_rng(0)
_volume, _label = _rng.normal(size=(4, 5, 6)), _rng.integers(0, 3, (4, 5, 6))
INPUTS = {
    "check_flip_pair": ((_volume, _label), (np.flip(_volume, 2), np.flip(_label, 2))),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
