"""Exercises of notebook 05."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_label = np.random.default_rng(0).integers(0, 3, (4, 5, 6))
INPUTS = {
    "check_median_frequency": (([_label], 3), None),
    "check_lesion_weight_sampling": ((0.001, 0.02), "lower"),
    "check_smoothing": ((0.2, 0.01), "higher"),
    "check_batch_dice": ((0.001, 0.02), "lower"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("name, changed, reference, truth", [
    ("check_lesion_weight_sampling", 0.05, 0.02, "higher"),
    ("check_lesion_weight_sampling", 0.021, 0.02, "same"),
    ("check_smoothing", 0.01, 0.2, "lower"),
    ("check_smoothing", 0.2, 0.205, "same"),
    ("check_batch_dice", 0.02, 0.02, "same"),
])
def test_predict_truth_comes_from_the_measurement(name, changed, reference, truth, capsys):
    check = getattr(exercises, name)
    assert check(truth, changed, reference) is True
    others = {"higher", "same", "lower"} - {truth}
    assert all(check(o, changed, reference) is False for o in others)
    assert "Not this time" in capsys.readouterr().out


def test_hints_do_not_give_the_answer(capsys):
    for name, right in [("check_lesion_weight_sampling", "lower"), ("check_smoothing", "higher"),
                        ("check_batch_dice", "lower")]:
        getattr(exercises, name)(None, *INPUTS[name][0])
        assert f"'{right}'" not in capsys.readouterr().out
