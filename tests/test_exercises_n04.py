"""Exercises of notebook 04."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import assert_exercise_contract

from course_utils import exercises, io

_rng = np.random.default_rng(0)
_volume, _label = _rng.normal(size=(4, 5, 6)), _rng.integers(0, 3, (4, 5, 6))
# direction matrices (columns: where voxel axes x, y, z point in LPS)
_DIRECTIONS = {"LPS": np.eye(3), "RAS": np.diag([-1.0, -1.0, 1.0]),
               "PIL": np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float),
               "SRA": np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=float)}


def _oriented(code: str) -> sitk.Image:
    image = sitk.GetImageFromArray(np.random.default_rng(4).normal(size=(5, 6, 7)))
    image.SetDirection(_DIRECTIONS[code].ravel().tolist())
    return image


INPUTS = {
    "check_flip_axis": ((_oriented("PIL"),), 0),
    "check_elastic_alignment": ((0.02, 0.4), "yes"),
    "check_rotate_crop_order": ((0.12, 0.0), "more"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("name, measured, truth", [
    ("check_elastic_alignment", (0.3, 0.4), "no"),
    ("check_rotate_crop_order", (0.0, 0.0), "same"),
    ("check_rotate_crop_order", (0.0, 0.1), "fewer"),
])
def test_predict_truth_comes_from_the_measurement(name, measured, truth, capsys):
    assert getattr(exercises, name)(truth, *measured) is True
    assert getattr(exercises, name)("more" if truth != "more" else "same", *measured) is False


@pytest.mark.parametrize("code", sorted(_DIRECTIONS))
def test_flip_axis_is_the_one_that_mirrors_left_and_right(code, capsys):
    """Flipping the raw array along the accepted axis, then reorienting to LPS, equals the
    LPS array mirrored along x (left-right): judged by SimpleITK's DICOMOrient, not the check."""
    image = _oriented(code)
    assert io.orientation_code(image) == code
    lps = sitk.GetArrayFromImage(io.reorient(image, "LPS"))
    right = [a for a in range(3) if exercises.check_flip_axis(a, image)]
    assert len(right) == 1
    flipped = sitk.GetImageFromArray(np.flip(sitk.GetArrayFromImage(image), axis=right[0]).copy())
    flipped.CopyInformation(image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(io.reorient(flipped, "LPS")),
                                  np.flip(lps, axis=2))
    assert not exercises.check_flip_axis(bool(right[0]), image)  # True/False are not axes
    capsys.readouterr()


def test_flip_axis_hint_guides_without_the_answer(capsys):
    exercises.check_flip_axis(2, _oriented("PIL"))
    out = capsys.readouterr().out
    assert out.startswith("❌") and "axis=0" not in out and "0" not in out.split("Stuck?")[0]
