"""Exercises of notebook 08: the contract of each check, and what its verdict is measured from."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract
from sklearn.metrics import confusion_matrix

from course_utils import exercises
from course_utils.exercises._core import VERIFY_ENV

_p_m, _sex = [0.9, 0.45, 0.2, 0.6, 0.35], [1, 1, 0, 0, 1]
_test, _train = [0, 1, 1], [1, 1, 0]  # the majority of the training labels is 1 (M)
INPUTS = {
    "check_majority_confusion": ((_test, _train), [[0, 1], [0, 2]]),
    "check_majority_balanced_accuracy": (([0, 1, 1, 1], [0, 0, 1]), "0.5"),
    "check_threshold": ((_p_m, _sex, 0.3), "sensitivity"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("test, train", [([0, 1, 1, 0, 0], [1, 1, 0]), ([0, 1, 1], [0, 0, 1])])
def test_majority_confusion_matches_sklearn(test, train, capsys):
    constant = np.full(len(test), np.bincount(train).argmax())
    reference = confusion_matrix(test, constant, labels=[0, 1])  # independent of the check
    assert exercises.check_majority_confusion(reference, test, train)
    assert not exercises.check_majority_confusion(reference.T, test, train)
    assert "transposed" in capsys.readouterr().out
    # the accuracy printed in the notebook is not an answer to this exercise
    assert not exercises.check_majority_confusion(np.mean(np.equal(test, constant)), test, train)


def test_threshold_verdict_follows_the_direction_of_the_change(capsys):
    assert exercises.check_threshold("specificity", _p_m, _sex, 0.7)
    out = capsys.readouterr().out
    # at 0.5: men 0.9, 0.45, 0.35 -> one of three called M; women 0.2, 0.6 -> one of two called F
    assert "sensitivity (men called M) 0.33 -> 0.33, specificity (women called F) 0.50 -> 1.00" in out


def test_an_unchanged_threshold_is_not_judged(monkeypatch, capsys):
    for prediction in ("sensitivity", "specificity"):
        assert not exercises.check_threshold(prediction, _p_m, _sex, 0.5)
        out = capsys.readouterr().out
        assert out.startswith("⏳ Change the marked line first") and "Right" not in out
    monkeypatch.setenv(VERIFY_ENV, "1")  # `make notebooks` verifies the notebook as it stands
    monkeypatch.setitem(globals(), "threshold", 0.5)  # the notebook's variable the solution reads
    assert exercises.check_threshold(None, _p_m, _sex, 0.5) is False
    assert "Not answered yet" in capsys.readouterr().out


def test_balanced_accuracy_of_a_constant_is_a_half_even_when_plain_accuracy_is_high(capsys):
    assert exercises.check_majority_balanced_accuracy("0.5", [1] * 9 + [0], [1, 1, 0])
    assert "plain accuracy gave 0.90" in capsys.readouterr().out
