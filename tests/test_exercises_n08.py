"""Exercises of notebook 08: the contract of each check, and what its verdict is measured from."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises

_p_m, _sex = [0.9, 0.45, 0.2, 0.6, 0.35], [1, 1, 0, 0, 1]
INPUTS = {
    "check_majority_accuracy": (([0, 1, 1], [1, 1, 0]), 2 / 3),
    "check_majority_balanced_accuracy": (([0, 1, 1, 1], [0, 0, 1]), "0.5"),
    "check_threshold": ((_p_m, _sex, 0.3), "sensitivity"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_threshold_verdict_follows_the_direction_of_the_change(capsys):
    assert exercises.check_threshold("specificity", _p_m, _sex, 0.7)
    out = capsys.readouterr().out
    # at 0.5: men 0.9, 0.45, 0.35 -> one of three called M; women 0.2, 0.6 -> one of two called F
    assert "sensitivity (men called M) 0.33 -> 0.33, specificity (women called F) 0.50 -> 1.00" in out
    assert not exercises.check_threshold("sensitivity", _p_m, _sex, 0.5)
    assert "other than 0.5" in capsys.readouterr().out


def test_balanced_accuracy_of_a_constant_is_a_half_even_when_plain_accuracy_is_high(capsys):
    assert exercises.check_majority_balanced_accuracy("0.5", [1] * 9 + [0], [1, 1, 0])
    assert "plain accuracy gave 0.90" in capsys.readouterr().out
