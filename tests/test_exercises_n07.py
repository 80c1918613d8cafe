"""Exercises of notebook 07: the contract of each check, and what its verdict is measured from."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises
from course_utils.exercises._core import VERIFY_ENV

_truth, _train = np.array([30.0, 50.0, 70.0]), np.array([40.0, 50.0, 90.0])  # median 50, mean 60
_young = np.array([21.0, 25.0, 33.0])
# three views of two subjects aged 40 and 60: subject 1's views err on both sides of its age
_views = np.array([[45.0, 70.0], [35.0, 65.0], [40.0, 62.0]])
INPUTS = {
    "check_median_baseline_mae": ((_truth, _train), np.mean(np.abs(_truth - 50.0))),
    "check_baseline_on_young": ((_young, _truth, _train), "higher"),
    "check_crop_averaging": ((_views, [40.0, 60.0]), "lower or the same"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_median_baseline_is_not_the_mean_baseline_printed_in_the_notebook(capsys):
    mean_baseline = np.mean(np.abs(_truth - _train.mean()))  # what section 7 prints
    assert not exercises.check_median_baseline_mae(mean_baseline, _truth, _train)
    assert "mean baseline of section 7" in capsys.readouterr().out
    assert exercises.check_median_baseline_mae(40 / 3, _truth, _train)
    assert "median training age (50.0) is off by 13.3 years" in capsys.readouterr().out


def test_baseline_on_young_is_measured_from_the_ages_given(capsys):
    # scored on middle-aged subjects the same baseline is better: "lower", not a pasted "higher"
    assert exercises.check_baseline_on_young("lower", [59.0, 61.0], _truth, _train)
    assert "1.0 years on these 2 subjects" in capsys.readouterr().out


def test_crop_averaging_is_measured_from_the_views_given(capsys):
    assert exercises.check_crop_averaging("lower or the same", _views, [40.0, 60.0])
    assert "some subjects' views err on both sides" in capsys.readouterr().out
    # the changed line picks the views judged: views 0 and 2 never err on both sides
    assert exercises.check_crop_averaging("lower or the same", _views[[0, 2]], [40.0, 60.0])
    out = capsys.readouterr().out
    assert "measured on 2 views: 4.25 years" in out and "all views err in the same" in out
    same_side = np.array([[45.0, 65.0], [42.0, 70.0]])  # all too old: averaging gains nothing
    assert exercises.check_crop_averaging("lower or the same", same_side, [40.0, 60.0])
    assert "all views err in the same direction" in capsys.readouterr().out
    assert not exercises.check_crop_averaging("higher", same_side, [40.0, 60.0])


@pytest.mark.parametrize("check, args", [
    (exercises.check_baseline_on_young, (_truth[::-1], _truth, _train)),  # probe = test
    (exercises.check_crop_averaging, (_views[:1], [40.0, 60.0])),  # one view: nothing averaged
])
def test_an_unchanged_marked_line_is_not_judged(check, args, capsys):
    for prediction in ("higher", "lower or the same", "same"):
        assert check(prediction, *args) is False
        out = capsys.readouterr().out
        assert out.startswith("⏳ Change the marked line first") and "Not this time" not in out
    assert check(None, *args) is False  # Run All: not answered yet, as every exercise
    assert "Not answered yet" in capsys.readouterr().out


def test_verifying_the_notebook_as_it_stands_passes_with_the_line_unchanged(monkeypatch, capsys):
    # `make notebooks` verifies every worked solution on the notebook as Run All leaves it
    monkeypatch.setenv(VERIFY_ENV, "1")
    assert exercises.check_crop_averaging(None, _views[:1], [40.0, 60.0]) is False
    assert "Not answered yet" in capsys.readouterr().out


def test_an_empty_probe_group_says_so(capsys):
    assert not exercises.check_baseline_on_young("higher", [], _truth, _train)
    assert "selects no subject" in capsys.readouterr().out


def test_crop_averaging_wants_rows_of_views(capsys):
    assert not exercises.check_crop_averaging("lower or the same", _views[0], [40.0, 60.0])
    assert "Give rows of `views`" in capsys.readouterr().out
