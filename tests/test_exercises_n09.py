"""Exercises of notebook 09."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_volume = np.random.default_rng(0).normal(size=(4, 5, 6))
INPUTS = {
    "check_psnr": ((_volume + 0.1, _volume), 10 * np.log10(np.ptp(_volume) ** 2 / 0.01)),
    "check_code_size": ((8, 20.0, 2, 18.5), "lower"),
    "check_noisy_input": ((1.0, 14.0, 17.5), "reconstruction"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize(("args", "truth"), [
    ((8, 20.0, 2, 18.5), "lower"), ((8, 20.0, 12, 20.6), "higher"), ((8, 20.0, 8, 20.0), "same"),
])
def test_code_size_truth_comes_from_the_measured_psnrs(args, truth, capsys):
    assert exercises.check_code_size(truth, *args) is True
    wrong = next(c for c in ("higher", "same", "lower") if c != truth)
    assert exercises.check_code_size(wrong, *args) is False
    assert f"the answer is {truth!r}" in capsys.readouterr().out


def test_noisy_input_without_noise_the_input_wins(capsys):
    assert exercises.check_noisy_input("noisy input", 0.0, float("inf"), 17.0) is True
    assert exercises.check_noisy_input("reconstruction", 0.3, 22.0, 17.0) is False
    assert "Try a larger noise_sd" in capsys.readouterr().out
