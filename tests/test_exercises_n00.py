"""Exercises of notebook 00: each check's contract (see tests/_helpers.py), and the
change-predict-verify checks judged against the real experiment."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import assert_exercise_contract, assert_unchanged_not_judged

from course_utils import config, exercises
from course_utils.exercises._core import VERIFY_ENV

INPUTS = {  # name: (arguments after the answer, a right answer)
    "check_preset_precedence": (("ci", "full", "full"), "full"),
    "check_cast_memory": ((100, 200), "double"),
    "check_finer_voxels": ((100, 800), "eight times"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("argument", ["full", "binder"])
def test_preset_precedence_follows_config_resolve(argument, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PRESET", "ci")
    resolved = config.resolve("00_setup", preset=argument).preset
    assert resolved == argument
    assert exercises.check_preset_precedence(resolved, "ci", argument, resolved) is True
    assert exercises.check_preset_precedence("ci", "ci", argument, resolved) is False
    assert "COURSE_PRESET" in capsys.readouterr().out  # the explanation, once committed


def test_unchanged_preset_choice_is_not_judged(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PRESET", "ci")
    resolved = config.resolve("00_setup", preset=None).preset  # choice = None, as shipped
    assert_unchanged_not_judged(exercises.check_preset_precedence, config.PRESET_NAMES,
                          ("ci", None, resolved), 'choice = "full"',
                          {"choice": None, "environment_preset": "ci"}, monkeypatch, capsys)


def test_unchanged_cast_and_factor_are_not_judged(tmp_path, monkeypatch, capsys):
    image = sitk.Image(8, 6, 4, sitk.sitkInt16)
    sitk.WriteImage(image, str(tmp_path / "t1.nii.gz"))
    t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "t1.nii.gz")))
    cast = t1.astype(t1.dtype)  # dtype = t1.dtype, as shipped
    assert_unchanged_not_judged(exercises.check_cast_memory, ("double", "same", "half"),
                          (t1.nbytes, cast.nbytes, t1.dtype, cast.dtype), "dtype = np.float32",
                          {"np": np, "t1": t1, "dtype": t1.dtype}, monkeypatch, capsys)
    same_size = t1.astype(np.float16)  # changed, with the same itemsize: judged
    monkeypatch.delenv(VERIFY_ENV)
    assert exercises.check_cast_memory("same", t1.nbytes, same_size.nbytes, t1.dtype,
                                       same_size.dtype) is True
    stored = sitk.ReadImage(str(tmp_path / "t1.nii.gz"))
    nbytes = sitk.GetArrayViewFromImage(sitk.Expand(stored, [1] * 3)).nbytes  # factor = 1
    assert_unchanged_not_judged(exercises.check_finer_voxels, ("eight times", "same"),
                          (t1.nbytes, nbytes), "factor = 2", {"factor": 1}, monkeypatch, capsys)


def test_cast_memory_judges_what_a_real_volume_measures(tmp_path, capsys):
    image = sitk.Image(8, 6, 4, sitk.sitkInt16)
    sitk.WriteImage(image, str(tmp_path / "t1.nii.gz"))
    t1 = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "t1.nii.gz")))
    def check(prediction, dtype, times=1):  # the notebook's call: sizes and dtypes
        cast = t1.astype(dtype)
        return exercises.check_cast_memory(prediction, t1.nbytes, cast.nbytes * times, t1.dtype,
                                           cast.dtype)

    assert check("double", np.float32)
    assert check("same", np.float16)  # another dtype of the same itemsize: judged, "same"
    assert not check("double", np.int8)
    capsys.readouterr()
    assert not check("same", np.float64, times=3)
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
    capsys.readouterr()
    assert not exercises.check_finer_voxels("eight times", nbytes[1], nbytes[3])
    assert "factor = 2" in capsys.readouterr().out  # 27x fits no choice: say what to set


def test_finer_voxels_worked_solution_follows_the_factor(capsys):
    """factor = 2, the changed cell (factor = 1 is verified in the unchanged test above)."""
    scope = {}
    exec(exercises.solutions()["finer_voxels"], {"factor": 2}, scope)  # noqa: S102
    assert exercises.check_finer_voxels(scope["prediction"], 100, 800)


def test_finer_voxels_hint_does_not_walk_to_the_answer(capsys):
    exercises.check_finer_voxels(None, 100, 800)  # not answered yet: the hint shows
    out = capsys.readouterr().out
    assert "new voxels fill one old voxel" in out
    assert not any(word in out for word in ("square", "cube", "along one axis"))
