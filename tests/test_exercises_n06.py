"""Exercises of notebook 06, and its sequences knob."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import config, exercises
from course_utils.errors import ConfigError

_COUNTS = {"true": 4, "detected": 2, "predicted": 3, "correct": 2}
INPUTS = {
    "check_window_count": (((48, 56, 48), 24, 0.5), 36),
    "check_overlap_windows": (((48, 56, 48), 24, 0.5, 0.25), "fewer"),
    "check_lesion_f1": ((_COUNTS,), 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3)),
    "check_native_dice": ((0.80, 0.78), "lower"),
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
