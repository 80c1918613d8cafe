"""Exercises of notebook 07: the contract of each check, and what its verdict is measured from."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_truth, _train = np.array([30.0, 50.0, 70.0]), np.array([40.0, 60.0])
_young = np.array([21.0, 25.0, 33.0])
# three views of two subjects aged 40 and 60: subject 1's crops err on both sides of its age
_views = np.array([[45.0, 70.0], [35.0, 65.0], [40.0, 62.0]])
INPUTS = {
    "check_baseline_mae": ((_truth, _train), np.mean(np.abs(_truth - 50.0))),
    "check_baseline_on_young": ((_young, _truth, _train), "higher"),
    "check_crop_averaging": ((_views, [40.0, 60.0]), "lower or the same"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_baseline_on_young_is_measured_from_the_ages_given(capsys):
    # scored on middle-aged subjects the same baseline is better: "lower", not a pasted "higher"
    assert exercises.check_baseline_on_young("lower", [49.0, 51.0], _truth, _train)
    assert "1.0 years on these 2 subjects" in capsys.readouterr().out


def test_crop_averaging_is_measured_from_the_views_given(capsys):
    assert exercises.check_crop_averaging("lower or the same", _views, [40.0, 60.0])
    assert "some subjects' crops err on both sides" in capsys.readouterr().out
    same_side = np.array([[45.0, 65.0], [42.0, 70.0]])  # all too old: averaging gains nothing
    assert exercises.check_crop_averaging("lower or the same", same_side, [40.0, 60.0])
    assert "all crops err in the same direction" in capsys.readouterr().out
    assert not exercises.check_crop_averaging("higher", same_side, [40.0, 60.0])
