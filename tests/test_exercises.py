"""The self-check machinery: verdicts, predictions, worked solutions and their verification."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import exercises
from course_utils.exercises import _core

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_unanswered_wrong_and_right(capsys):
    assert exercises.check_window_count(None) is False
    out = capsys.readouterr().out
    assert "Not answered yet" in out and 'exercises.solution("window_count")' in out
    assert exercises.check_window_count(27) is False  # 3 per axis: the last window forgotten
    out = capsys.readouterr().out
    assert "Not quite" in out and "windows start every 12 voxels" in out  # what to look at
    assert exercises.check_window_count(36) is True  # 3 x 4 x 3 windows
    assert "Correct" in capsys.readouterr().out


def test_close_compares_shape_and_values():
    assert exercises.close([1.0, 2.0], np.array([1.0, 2.0 + 1e-9]))
    assert not exercises.close([1.0, 2.0], [1.0, 2.0, 3.0])
    assert not exercises.close("abc", [1.0])
    assert not exercises.close(None, [1.0])
    assert "(3, 2)" in exercises.shape_hint(np.zeros((2, 3)), (3, 2))


def test_judge_prediction_explains_once_committed(capsys):
    args = ("lower", ("higher", "same", "lower"), "because the background is dark", "think")
    assert exercises.judge_prediction(None, *args) is False
    out = capsys.readouterr().out
    assert "Not answered" in out and "background" not in out  # no answer, no explanation
    assert "set `prediction` to one of 'higher', 'same', 'lower'" in out  # a choice, not code
    assert "your code" not in out and "Hint: think" in out
    assert exercises.judge_prediction("maybe", *args) is False
    assert "'higher'" in capsys.readouterr().out  # lists the valid choices
    assert exercises.judge_prediction(" Higher", *args) is False
    out = capsys.readouterr().out
    assert "'lower'" in out and "background" in out
    assert exercises.judge_prediction("lower", *args) is True


def test_every_exercise_is_registered_documented_and_tested():
    checks = {n: getattr(exercises, n) for n in dir(exercises) if n.startswith("check_")}
    assert {f"check_{k}" for k in exercises.REGISTRY} == set(checks)
    tested = {}
    for path in sorted((ROOT / "tests").glob("test_exercises_n*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        tested.update(module.INPUTS)
    assert set(tested) == set(checks), "give every check_* inputs in tests/test_exercises_nNN.py"
    for name, check in checks.items():
        assert check.__doc__ and "Parameters" in check.__doc__, name
        first = next(iter(inspect.signature(check).parameters))
        assert first in ("answer", "prediction"), name


def test_every_exercise_has_one_worked_solution_that_compiles():
    solutions = exercises.solutions()
    assert set(solutions) == set(exercises.REGISTRY)
    for name, code in solutions.items():
        compile(code, name, "exec")
        assert re.search(r"^(answer|prediction) = ", code, re.M), name


def test_solution_prints_the_code_and_names_the_exercises(capsys):
    exercises.solution("check_window_count")
    assert "answer = " in capsys.readouterr().out
    exercises.solution("no_such_exercise")
    assert "window_count" in capsys.readouterr().out


def test_verify_mode_runs_the_solution_in_the_callers_namespace(monkeypatch, capsys):
    monkeypatch.setenv(_core.VERIFY_ENV, "1")
    rng = np.random.default_rng(0)
    namespace = {"np": np, "exercises": exercises, "t1s": [rng.normal(size=(4, 5, 6))]}
    namespace["brain_masks"] = [namespace["t1s"][0] > 0]
    code = "ok = exercises.check_masked_whitening(None, t1s[0], brain_masks[0])"
    exec(code, namespace)  # the solution passes: the learner still sees "not answered"
    assert namespace["ok"] is False and "answer" not in namespace
    assert "Not answered yet" in capsys.readouterr().out
    bad = {**namespace, "brain_masks": [np.zeros((4, 5, 6), bool) | (namespace["t1s"][0] < 0)]}
    monkeypatch.setattr(_core, "solutions", lambda: {"masked_whitening": "answer = t1s[0]\n"})
    with pytest.raises(AssertionError, match="fails its own check"):
        exec(code, bad)


def test_notebooks_keep_no_solution_cells():
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            assert "solution" not in cell["metadata"].get("tags", []), path.name
            assert "source_hidden" not in json.dumps(cell["metadata"]), path.name
