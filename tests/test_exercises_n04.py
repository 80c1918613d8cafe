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
    "check_elastic_alignment": ((0.02, 0.4), "yes"),
    "check_rotate_crop_order": ((0.12, 0.0), "more"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("name, measured, truth", [
    ("check_elastic_alignment", (0.3, 0.4), "no"),
    ("check_rotate_crop_order", (0.0, 0.0), "same"),
    ("check_rotate_crop_order", (0.0, 0.1), "fewer"),
])
def test_predict_truth_comes_from_the_measurement(name, measured, truth, capsys):
    assert getattr(exercises, name)(truth, *measured) is True
    assert getattr(exercises, name)("more" if truth != "more" else "same", *measured) is False


def test_flip_hint_guides_without_the_answer(capsys):
    exercises.check_flip_pair(None, _volume, _label)
    out = capsys.readouterr().out
    assert "axis=2" not in out and "axis 2" not in out and "np.flip" not in out
    exercises.check_flip_pair((np.flip(_volume, 2), _label), _volume, _label)
    assert "labels are not" in capsys.readouterr().out  # a half-right answer is told which half
