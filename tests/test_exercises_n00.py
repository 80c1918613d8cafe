"""Exercises of notebook 00: each check's contract (see tests/_helpers.py), and the
change-predict-verify checks judged against the real experiment."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import assert_exercise_contract

from course_utils import config, exercises

INPUTS = {  # name: (arguments after the answer, a right answer)
    "check_preset_precedence": (("ci", None, "ci"), "ci"),
    "check_cast_memory": ((100, 200), "double"),
    "check_finer_voxels": ((100, 800), "eight times"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("argument", [None, "full"])
def test_preset_precedence_follows_config_resolve(argument, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PRESET", "ci")
    resolved = config.resolve("00_setup", preset=argument).preset
    assert resolved == (argument or "ci")
    assert exercises.check_preset_precedence(resolved, "ci", argument, resolved) is True
    wrong = "binder"
    assert exercises.check_preset_precedence(wrong, "ci", argument, resolved) is False
    assert "COURSE_PRESET" in capsys.readouterr().out  # the explanation, once committed


def test_cast_memory_judges_what_a_real_volume_measures(tmp_path, capsys):
    image = sitk.Image(8, 6, 4, sitk.sitkInt16)
    sitk.WriteImage(image, str(tmp_path / "t1.nii.gz"))
    t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "t1.nii.gz")))
    assert exercises.check_cast_memory("double", t1.nbytes, t1.astype(np.float32).nbytes)
    assert exercises.check_cast_memory("same", t1.nbytes, t1.astype(np.float16).nbytes)
    assert not exercises.check_cast_memory("double", t1.nbytes, t1.astype(np.int8).nbytes)
    capsys.readouterr()
    assert not exercises.check_cast_memory("same", t1.nbytes, t1.astype(np.float64).nbytes * 3)
    assert "changed the size" in capsys.readouterr().out  # neither choice fits: say so


def test_finer_voxels_judges_what_sitk_expand_measures(tmp_path, capsys):
    image = sitk.Image(8, 6, 4, sitk.sitkInt16)
    image.SetSpacing((2.0, 2.0, 2.0))
    sitk.WriteImage(image, str(tmp_path / "t1.nii.gz"))
    stored = sitk.ReadImage(str(tmp_path / "t1.nii.gz"))
    nbytes = {f: sitk.GetArrayViewFromImage(sitk.Expand(stored, [f] * 3)).nbytes for f in (1, 2, 3)}
    assert exercises.check_finer_voxels("eight times", nbytes[1], nbytes[2])
    assert "2 GB" in capsys.readouterr().out  # the why ties the cost to the presets
    assert not exercises.check_finer_voxels("double", nbytes[1], nbytes[2])
    assert exercises.check_finer_voxels("same", nbytes[1], nbytes[1])  # the unchanged cell
    capsys.readouterr()
    assert not exercises.check_finer_voxels("eight times", nbytes[1], nbytes[3])
    assert "factor = 2" in capsys.readouterr().out  # 27x fits no choice: say what to set


@pytest.mark.parametrize("factor", [1, 2])
def test_finer_voxels_worked_solution_follows_the_factor(factor, capsys):
    scope = {}
    exec(exercises.solutions()["finer_voxels"], {"factor": factor}, scope)  # noqa: S102
    assert exercises.check_finer_voxels(scope["prediction"], 100, 100 * factor ** 3)


def test_finer_voxels_hint_does_not_walk_to_the_answer(capsys):
    exercises.check_finer_voxels(None, 100, 800)  # not answered yet: the hint shows
    out = capsys.readouterr().out
    assert "new voxels fill one old voxel" in out
    assert not any(word in out for word in ("square", "cube", "along one axis"))
