"""Exercises of notebook 01 headers and physical space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import _shape, close, exercise, feedback, shape_hint


@exercise
def check_world_point(answer: Any, image: Any, index: Sequence[float]) -> bool:
    """01: the world (LPS mm) position of voxel ``index`` (x, y, z) of a SimpleITK image.

    Parameters: ``answer``: three world coordinates (x, y, z) in mm; ``image``: the
    SimpleITK image; ``index``: the voxel index (x, y, z).
    """
    expected = image.TransformContinuousIndexToPhysicalPoint([float(i) for i in index])
    return feedback(
        close(answer, expected, rtol=0, atol=1e-3),
        "origin + direction @ (spacing * index) is exactly what SimpleITK computes.",
        hint="use the index in x, y, z order (not the array's z, y, x), multiply by the spacing "
             "first, then by the 3x3 direction (np.reshape(image.GetDirection(), (3, 3))), then "
             "add the origin. " + (shape_hint(answer, (3,)) if _shape(answer) != (3,) else ""),
        answer=answer,
    )


@exercise
def check_orientation_code(answer: Any, image: Any) -> bool:
    """01: the three-letter orientation code of a SimpleITK image's direction matrix.

    Parameters: ``answer``: a code such as ``"LPS"``; ``image``: the SimpleITK image.
    """
    import SimpleITK as sitk

    expected = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        image.GetDirection())
    ok = isinstance(answer, str) and answer.strip().upper() == expected
    return feedback(
        ok,
        f"{expected}: each letter says where one voxel axis (x, then y, then z) points.",
        hint="read the direction matrix column by column: column k is where voxel axis k "
             "points in LPS world space; +x is L, -x is R, +y is P, -y is A, +z is S, -z is I.",
        answer=answer,
    )
