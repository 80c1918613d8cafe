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
# two views (a crop and its mirror image) of two subjects, F and M: the man's views disagree
_views = np.array([[[0.8, 0.2], [0.1, 0.9]], [[0.6, 0.4], [0.7, 0.3]]])
INPUTS = {
    "check_majority_confusion": ((_test, _train), [[0, 1], [0, 2]]),
    "check_majority_balanced_accuracy": (([0, 1, 1, 1], [0, 0, 1]), "0.5"),
    "check_threshold": ((_p_m, _sex, 0.3), "sensitivity"),
    "check_averaged_cross_entropy": ((_views, [0, 1]), "lower or the same"),
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


def test_a_probability_of_exactly_one_half_is_called_f_as_argmax_calls_it(capsys):
    # the notebook's answer is the argmax of (p(F), p(M)): a tie goes to F (index 0)
    tie = np.array([[0.5, 0.5]])
    assert np.argmax(tie, axis=1)[0] == 0
    assert exercises.check_threshold("sensitivity", [0.5, 0.5], [1, 0], 0.3)
    assert "sensitivity (men called M) 0.00 -> 1.00" in capsys.readouterr().out


def _keras_cross_entropy(truth, probabilities) -> float:
    import keras  # the loss the notebook trains with and prints

    return float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(
        np.asarray(truth), np.asarray(probabilities, "float32"))))


def test_averaged_cross_entropy_is_measured_with_the_training_loss(capsys):
    truth = [0, 1]
    averaged = _keras_cross_entropy(truth, _views.mean(axis=0))
    single = np.mean([_keras_cross_entropy(truth, v) for v in _views])
    assert averaged < single  # the man's views disagree: averaging gains
    assert exercises.check_averaged_cross_entropy("lower or the same", _views, truth)
    out = capsys.readouterr().out
    assert f"cross-entropy {averaged:.3f} for their averaged probabilities against {single:.3f}" in out
    assert not exercises.check_averaged_cross_entropy("higher", _views, truth)
    # identical views: the average is each of them, the loss the same ("lower or the same")
    same = np.repeat(_views[:1], 3, axis=0)
    assert exercises.check_averaged_cross_entropy("lower or the same", same, truth)
    assert "Right" in capsys.readouterr().out


def test_averaged_cross_entropy_survives_a_probability_of_zero(capsys):
    certain = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.0, 1.0]]])  # view 1: F wrong
    assert exercises.check_averaged_cross_entropy("lower or the same", certain, [0, 1])
    assert "nan" not in capsys.readouterr().out


def test_an_unchanged_view_selection_is_not_judged(monkeypatch, capsys):
    for prediction in ("lower or the same", "higher"):
        assert not exercises.check_averaged_cross_entropy(prediction, _views[:1], [0, 1])
        out = capsys.readouterr().out
        assert out.startswith("⏳ Change the marked line first") and "Right" not in out
    assert not exercises.check_averaged_cross_entropy("higher", _views[0], [0, 1])
    assert "Give rows of `views`" in capsys.readouterr().out
    monkeypatch.setenv(VERIFY_ENV, "1")  # `make notebooks` verifies the notebook as it stands
    assert exercises.check_averaged_cross_entropy(None, _views[:1], [0, 1]) is False
    assert "Not answered yet" in capsys.readouterr().out
