"""Exercises of notebook 10."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

INPUTS = {
    "check_low_res_shape": (((48, 56, 44), 4), [12, 14, 11]),
    "check_upsampling_order": ((0, 18.0, 19.5), "lower"),
    "check_noisy_low_res": ((0.3, 17.0, 17.4, 0.9), "no"),
    "check_ssim_shift": (("shift", 0.71, 0.57), "higher"),
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


@pytest.mark.parametrize(("order", "changed", "truth"), [(0, 18.0, "lower"), (3, 19.505, "same"),
                                                         (3, 19.8, "higher")])
def test_upsampling_order_truth_comes_from_the_measured_psnrs(order, changed, truth):
    assert exercises.check_upsampling_order(truth, order, changed, 19.5) is True


def test_noisy_low_res_yes_when_the_network_still_wins(capsys):
    assert exercises.check_noisy_low_res("yes", 0.1, 20.1, 19.5, 0.9) is True
    assert "+0.60 dB; on clean inputs +0.90 dB" in capsys.readouterr().out
    assert exercises.check_noisy_low_res("yes", 0.3, 17.0, 17.4, 0.9) is False


def test_ssim_shift_truth_follows_real_ssims(capsys):
    """On a real smooth volume a uniform shift keeps contrast and structure: SSIM stays higher."""
    ndimage = pytest.importorskip("scipy.ndimage")
    from course_utils.image_quality import ssim

    rng = np.random.default_rng(0)
    target = ndimage.gaussian_filter(rng.random((24, 24, 24)), 2.0)
    target -= target.min()
    rms = 0.1 * float(np.ptp(target))
    shifted, noisy = target + rms, target + rng.normal(0, rms, target.shape)
    assert np.isclose(np.mean((shifted - target) ** 2), np.mean((noisy - target) ** 2), rtol=0.05)
    args = ("shift", ssim(shifted, target), ssim(noisy, target))
    assert exercises.check_ssim_shift("higher", *args) is True
    assert exercises.check_ssim_shift("lower", *args) is False
    assert "contrast and structure are intact" in capsys.readouterr().out


def test_low_res_shape_hint_says_nothing_of_shapes_before_an_answer(capsys):
    """Under Run All the hint began "expected an array of shape (3,), got shape None."."""
    assert exercises.check_low_res_shape(None, (48, 56, 44), 4) is False
    out = capsys.readouterr().out
    assert "Not answered yet" in out and "How many windows fit" in out
    assert "shape" not in out.split("Hint:", 1)[1].split("Stuck?")[0], out
    assert exercises.check_low_res_shape([12, 14], (48, 56, 44), 4) is False  # a wrong shape
    assert "expected an array of shape (3,), got shape (2,)" in capsys.readouterr().out
    assert exercises.check_low_res_shape([12, 14, 10], (48, 56, 44), 4) is False  # right shape
    assert "expected an array" not in capsys.readouterr().out
