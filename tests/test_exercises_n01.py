"""Exercises of notebook 01: contracts, and the change-predict-verify checks judged against
real SimpleITK images changed as the notebook changes them."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import assert_exercise_contract, assert_unchanged_not_judged

from course_utils import exercises, io


def _image():
    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetSpacing((2.0, 1.5, 1.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    return image


INPUTS = {
    "check_world_point": ((_image(), (1, 2, 3)),
                          _image().TransformContinuousIndexToPhysicalPoint((1, 2, 3))),
    "check_orientation_code": ((_image(),), "RAS"),
    "check_spacing_change": ((0.0, 12.5), "only the far voxel"),
    "check_direction_flip": ((False,), "mirrored"),
    "check_dicom_order": ((True, True), "same"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def _moved(image, new_spacing, far=(3, 4, 5)):
    changed = sitk.Image(image)
    changed.SetSpacing(new_spacing)
    return [float(np.linalg.norm(np.subtract(changed.TransformIndexToPhysicalPoint(i),
                                             image.TransformIndexToPhysicalPoint(i))))
            for i in ((0, 0, 0), far)]


def test_spacing_change_is_judged_on_the_measured_move():
    image = _image()
    assert exercises.check_spacing_change("only the far voxel", *_moved(image, (4.0, 1.5, 1.0)))
    assert not exercises.check_spacing_change("both", *_moved(image, (4.0, 1.5, 1.0)))


def test_unchanged_spacing_is_not_judged(monkeypatch, capsys):
    image = _image()
    assert_unchanged_not_judged(
        exercises.check_spacing_change, ("only the far voxel", "neither", "both"),
        _moved(image, image.GetSpacing()), "new_spacing = (2 * sx, sy, sz)",
        {"np": np, "image": image, "new_spacing": image.GetSpacing()}, monkeypatch, capsys)


def _reoriented_equal(flip):
    rng = np.random.default_rng(0)
    image = sitk.GetImageFromArray(rng.random((6, 5, 4)).astype(np.float32))
    image.CopyInformation(_image())
    changed = sitk.Image(image)
    direction = np.reshape(image.GetDirection(), (3, 3)).copy()
    if flip:
        direction[:, 0] *= -1
    changed.SetDirection(direction.ravel().tolist())
    arrays = [sitk.GetArrayFromImage(io.reorient(i, "LPS")) for i in (image, changed)]
    return bool(np.array_equal(*arrays))


def test_direction_flip_is_judged_on_real_reorientation(capsys):
    same = _reoriented_equal(True)
    assert exercises.check_direction_flip("mirrored", same) is True
    assert exercises.check_direction_flip("same", same) is False
    assert "'mirrored'" in capsys.readouterr().out  # a wrong prediction is told the answer


def test_unchanged_direction_is_not_judged(monkeypatch, capsys):
    assert_unchanged_not_judged(exercises.check_direction_flip, ("mirrored", "same"),
                                (_reoriented_equal(False),), "flip_x = True", {"flip_x": False},
                                monkeypatch, capsys)


@pytest.mark.parametrize("rename", [False, True])
def test_dicom_order_is_judged_on_a_real_renamed_series(rename, tmp_path, monkeypatch, capsys):
    """The notebook's experiment: copy a written series with reversed file names, read it."""
    import shutil

    image = sitk.GetImageFromArray(np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6))
    files = io.write_dicom_series(image, tmp_path / "series")
    (tmp_path / "copy").mkdir()
    for k, path in enumerate(files):
        name = f"slice_{len(files) - 1 - k:04d}.dcm" if rename else path.name
        shutil.copy(path, tmp_path / "copy" / name)
    same = bool(np.array_equal(sitk.GetArrayFromImage(io.read_dicom_series(tmp_path / "copy")),
                               sitk.GetArrayFromImage(image)))
    assert same  # the reader sorts by Image Position (Patient), not by name
    if not rename:  # the notebook as shipped: not judged yet
        assert_unchanged_not_judged(exercises.check_dicom_order, ("same", "reversed"),
                                    (same, rename), "rename = True", {}, monkeypatch, capsys)
        return
    assert exercises.check_dicom_order("same", same, rename) is True
    assert "Image Position" in capsys.readouterr().out
    assert exercises.check_dicom_order("reversed", same, rename) is False
