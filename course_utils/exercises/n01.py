"""Exercises of notebook 01 headers and physical space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import (
    _shape,
    change_first,
    close,
    exercise,
    feedback,
    judge_prediction,
    shape_hint,
)

SPACING_CHOICES = ("neither", "only the far voxel", "both")


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


@exercise(kind="predict")
def check_spacing_change(prediction: Any, moved_first_mm: float, moved_far_mm: float) -> bool:
    """01 (change, predict, verify): which voxels move in the world when the spacing changes?

    Parameters: ``prediction``: one of :data:`SPACING_CHOICES`; ``moved_first_mm``: how
    far voxel (0, 0, 0) moved (mm); ``moved_far_mm``: how far the far voxel moved (mm).
    """
    verdict = change_first(prediction, float(moved_far_mm) < 1e-6, "new_spacing = (2 * sx, sy, sz)")
    if verdict is not None:
        return verdict
    first, far = float(moved_first_mm) > 1e-6, float(moved_far_mm) > 1e-6
    truth = SPACING_CHOICES[2] if first else SPACING_CHOICES[1] if far else SPACING_CHOICES[0]
    why = (f"voxel (0, 0, 0) moved {moved_first_mm:.1f} mm, the far voxel {moved_far_mm:.1f} mm. "
           "The origin is the centre of voxel (0, 0, 0), so spacing cannot move it; voxel i sits "
           "at origin + direction @ (spacing * i), so it moves by direction @ (change * i): the "
           "farther from voxel 0, the more. A wrong spacing in a header stretches the anatomy "
           "away from the origin's corner.")
    return judge_prediction(prediction, truth, SPACING_CHOICES, why,
                            hint="write p = o + D (s * i) for i = (0, 0, 0) and for the far voxel; "
                                 "which terms change when s changes?")


@exercise(kind="predict")
def check_direction_flip(prediction: Any, same_after_reorient: bool) -> bool:
    """01 (change, predict, verify): after flipping one direction column, is the reoriented
    (LPS) array the same as before, or mirrored?

    Parameters: ``prediction``: "same" or "mirrored"; ``same_after_reorient``: whether the
    two reoriented arrays were measured equal.
    """
    verdict = change_first(prediction, bool(same_after_reorient), "flip_x = True")
    if verdict is not None:
        return verdict
    why = ("the stored voxels did not change, but the header now says voxel axis x points the "
           "other way, so every voxel's world position is mirrored and reorienting to LPS "
           "flips the array to match. The picture still looks like a brain: a sign slip in a "
           "header swaps the patient's left and right, and only the header tells you.")
    truth = "mirrored"  # measured: the reoriented arrays differ
    return judge_prediction(prediction, truth, ("same", "mirrored"), why,
                            hint="reorienting reads where the header says each voxel is; what "
                                 "does the flipped column say about voxel axis x?")


@exercise(kind="predict")
def check_dicom_order(prediction: Any, same_volume: bool, rename: Any = None) -> bool:
    """01 (change, predict, verify): with the file names reversed, is the series read back the same?

    Parameters: ``prediction``: "same" or "reversed"; ``same_volume``: whether the volume
    read from the renamed files was measured equal to the one read before; ``rename``: the
    marked line's switch (False: the starting, unchanged line; None: not given).
    """
    verdict = change_first(prediction, rename is False, "rename = True")
    if verdict is not None:
        return verdict
    truth = "same" if bool(same_volume) else "reversed"
    why = ("The reader does not trust file names (nor the Instance Number): it sorts the slices "
           "by their Image Position (Patient) along the slice normal, row x column. That is why "
           "every slice carries its own position: a folder copied, renamed or sent slice by "
           "slice still rebuilds the same volume." if truth == "same" else
           "The slices came back in another order: were some positions written wrong?")
    return judge_prediction(prediction, truth, ("same", "reversed"), why,
                            hint="which of the tags printed above could tell a reader where a "
                                 "slice belongs, whatever its file is called?")
