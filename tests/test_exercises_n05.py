"""Exercises of notebook 05."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_label = np.random.default_rng(0).integers(0, 3, (4, 5, 6))


def _heads(n=3, seed=0):
    """16³ label maps: a ball of radius 5 (the 'brain', classes 1..4, 4 rare) in background."""
    rng = np.random.default_rng(seed)
    grid = np.indices((16, 16, 16)) - 7.5
    ball = (grid**2).sum(0) <= 5.5**2
    return [np.where(ball, rng.choice(4, size=ball.shape, p=[0.2, 0.35, 0.4, 0.05]) + 1, 0)
            for _ in range(n)]


def _brains(heads):
    """The maps cropped to the ball's bounding box (its corners stay background)."""
    return [lab[(slice(3, 13),) * 3] for lab in heads]


INPUTS = {
    "check_median_frequency": (([_label], 3), None),
    "check_crop_weights": ((_brains(_heads()), _heads(), 5, 4), "same"),
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


def test_median_frequency_accepts_the_right_weights(capsys):
    labels = _heads()
    f = np.stack([np.bincount(lab.ravel(), minlength=5) / lab.size for lab in labels]).mean(0)
    assert exercises.check_median_frequency(np.median(f) / f, labels, 5) is True
    assert exercises.check_median_frequency(f / np.median(f), labels, 5) is False  # inverted


def test_crop_weights_truth_is_measured_from_the_maps(capsys):
    heads = _heads()
    # cropping away background keeps the lesion's weight: every brain share grows alike
    assert exercises.check_crop_weights("same", _brains(heads), heads, 5, 4) is True
    assert "class" in capsys.readouterr().out
    # cut into the brain instead, dropping the lesion-rich half: the lesion's weight moves
    halves = [np.where(np.arange(16)[:, None, None] < 8, np.where(lab == 4, 3, lab), lab)
              for lab in heads]  # half of the lesions become white matter
    truth = "higher"
    assert exercises.check_crop_weights(truth, halves, heads, 5, 4) is True
    assert all(exercises.check_crop_weights(o, halves, heads, 5, 4) is False
               for o in ("same", "lower"))


def test_hints_do_not_give_the_answer(capsys):
    for name, right in [("check_lesion_weight_sampling", "lower"), ("check_smoothing", "higher"),
                        ("check_batch_dice", "lower"), ("check_crop_weights", "same")]:
        getattr(exercises, name)(None, *INPUTS[name][0])
        assert f"'{right}'" not in capsys.readouterr().out
