"""Exercises of notebook 01."""

from __future__ import annotations

import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises


def _image():
    import SimpleITK as sitk

    image = sitk.Image(4, 5, 6, sitk.sitkFloat32)
    image.SetSpacing((2.0, 1.5, 1.0))
    image.SetOrigin((10.0, -4.0, 3.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    return image


INPUTS = {
    "check_world_point": ((_image(), (1, 2, 3)),
                          _image().TransformContinuousIndexToPhysicalPoint((1, 2, 3))),
    "check_orientation_code": ((_image(),), "RAS"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)
