"""Exercises of notebook 10."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_low_res_shape": (((48, 56, 44), 4), [12, 14, 11]),
    "check_upsampling_order": ((0, 18.0, 19.5), "lower"),
    "check_noisy_low_res": ((0.3, 17.0, 17.4), "no"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_low_res_shape_is_not_the_block_shape_of_another_factor():
    """The old placeholder (24, 28, 22) was right for factor 2; the shape follows the factor."""
    assert exercises.check_low_res_shape((24, 28, 22), (48, 56, 44), 4) is False
    assert exercises.check_low_res_shape((12, 14, 11), (48, 56, 44), 4) is True
    assert exercises.check_low_res_shape((12, 14, 11), (48, 56, 41), 4) is True  # ceil: "same"


@pytest.mark.parametrize(("order", "changed", "truth"), [(0, 18.0, "lower"), (1, 19.5, "same"),
                                                         (3, 19.8, "higher")])
def test_upsampling_order_truth_comes_from_the_measured_psnrs(order, changed, truth):
    assert exercises.check_upsampling_order(truth, order, changed, 19.5) is True


def test_noisy_low_res_yes_when_the_network_still_wins():
    assert exercises.check_noisy_low_res("yes", 0.0, 20.1, 19.5) is True
    assert exercises.check_noisy_low_res("yes", 0.3, 17.0, 17.4) is False
