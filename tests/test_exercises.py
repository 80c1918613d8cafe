"""The self-check pattern: a verdict and a hint, never a traceback."""

import inspect

import numpy as np

from course_utils import exercises


def test_unanswered_wrong_and_right(capsys):
    assert exercises.check_preset_choice(None) is False
    assert "Not answered yet" in capsys.readouterr().out
    assert exercises.check_preset_choice("full") is False
    out = capsys.readouterr().out
    assert "Not quite" in out and "2 GB" in out  # the hint points at what to look at
    assert exercises.check_preset_choice(" Binder ") is True
    assert "Correct" in capsys.readouterr().out


def test_close_compares_shape_and_values():
    assert exercises.close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    assert not exercises.close([1.0, 2.0], [1.0, 2.0, 3.0])
    assert not exercises.close("abc", [1.0])
    assert not exercises.close(None, [1.0])
    assert "(3, 2)" in exercises.shape_hint(np.zeros((2, 3)), (3, 2))


def test_every_check_function_has_a_docstring_and_handles_no_answer(capsys):
    checks = [getattr(exercises, n) for n in dir(exercises) if n.startswith("check_")]
    assert checks
    for check in checks:
        assert check.__doc__, check.__name__
        required = [
            p for p in inspect.signature(check).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind == p.POSITIONAL_OR_KEYWORD
        ]
        if len(required) == 1:  # the answer only: an empty answer gets a hint, not an error
            assert check(None) is False, check.__name__
            assert "Not answered yet" in capsys.readouterr().out, check.__name__
