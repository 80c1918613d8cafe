"""Exercises of notebook 06, and its sequences knob."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import config, exercises, metrics
from course_utils.errors import ConfigError

_COUNTS = {"true": 4, "detected": 2, "predicted": 3, "correct": 2}
INPUTS = {
    "check_window_count": (((48, 56, 48), 24, 0.5), 36),
    "check_overlap_windows": (((48, 56, 48), 24, 0.5, 0.25), "fewer"),
    "check_lesion_f1": ((_COUNTS,), 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)),
    "check_native_dice": ((0.80, 0.78), "lower"),
    "check_lesion_connectivity": ((5, 7, 1), "more"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_overlap_truth_is_counted_not_assumed(capsys):
    """A larger overlap gives more windows; a change that keeps the step gives the same count."""
    assert exercises.check_overlap_windows("more", (48, 56, 48), 24, 0.5, 0.75) is True
    assert exercises.check_overlap_windows("same", (48, 56, 48), 24, 0.5, 0.51) is True
    assert exercises.check_overlap_windows("fewer", (48, 56, 48), 24, 0.5, 0.75) is False
    assert "Counted: 36 windows" in capsys.readouterr().out


def test_sequences_knob_lists_the_available_sequences():
    assert config.resolve("06_segmentation", preset="ci").sequences == ["t1", "t1_ir", "t2_flair"]
    assert config.resolve("06_segmentation", preset="ci", sequences="t1").sequences == ["t1"]
    for bad in (["t1", "t2"], [], ["t1", "t1"], 5):
        with pytest.raises(ConfigError) as err:
            config.resolve("06_segmentation", preset="ci", sequences=bad)
        assert err.value.name == "sequences"
    with pytest.raises(ConfigError, match="'t1', 't1_ir', 't2_flair'"):
        config.resolve("06_segmentation", preset="ci", sequences=["flair"])


def test_unchanged_lines_are_not_judged(capsys, monkeypatch):
    """A prediction made before the marked line was changed is sent back to change it first."""
    monkeypatch.delenv("COURSE_VERIFY_SOLUTIONS", raising=False)
    assert exercises.check_overlap_windows("same", (48, 56, 48), 24, 0.5, 0.5) is False
    assert "Change the marked line first" in capsys.readouterr().out
    assert exercises.check_lesion_connectivity("same", 4, 4, 3) is False
    assert "Change the marked line first" in capsys.readouterr().out


def test_connectivity_truth_is_counted_from_lesion_counts(capsys):
    """Two lesion voxels touching by a corner: one lesion 26-connected, two 6-connected."""
    truth = np.zeros((4, 4, 4), np.uint8)
    truth[1, 1, 1] = truth[2, 2, 2] = 2
    n26 = metrics.lesion_counts(truth, truth, 3)["true"]
    n6 = metrics.lesion_counts(truth, truth, 3, connectivity=1)["true"]
    assert (n26, n6) == (1, 2)
    assert exercises.check_lesion_connectivity("more", n26, n6, 1) is True
    assert "Counted: 1 true lesions with connectivity 3, 2 with 1" in capsys.readouterr().out
    assert exercises.check_lesion_connectivity("same", n26, n26, 1) is True
    assert exercises.check_lesion_connectivity("more", n26, n26, 1) is False


@pytest.mark.parametrize(("native", "word"), [(0.70, "Lower:"), (0.90, "Higher:")])
def test_native_dice_explains_the_measured_direction(native, word, capsys):
    """The explanation follows the measured sign, not one fixed story."""
    exercises.check_native_dice("same", 0.80, native)
    assert word in capsys.readouterr().out
