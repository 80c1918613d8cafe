"""Exercises of notebook 04 augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.exercises._core import change_first, exercise, feedback, judge_prediction


@exercise
def check_flip_axis(answer: Any, image: Any) -> bool:
    """04: which numpy axis of ``sitk.GetArrayFromImage(image)`` runs from right to left?

    Parameters: ``answer``: 0, 1 or 2; ``image``: a SimpleITK image, in any orientation.
    """
    direction = np.reshape(image.GetDirection(), (3, 3))
    voxel_axis = int(np.argmax(np.abs(direction[0])))  # the column pointing most along world x
    truth = 2 - voxel_axis  # numpy orders the axes z, y, x
    ok = isinstance(answer, (int, np.integer)) and not isinstance(answer, bool) and answer == truth
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())
    return feedback(
        ok, f"In {code}, letter {voxel_axis + 1} is L or R: voxel axis {'xyz'[voxel_axis]}, "
            f"which numpy puts at position {truth}. np.flip(array, axis={truth}) mirrors left and "
            "right; axis 2 would mirror another direction. Flip after reorienting to LPS (as "
            "standardize=True does), or read the axis from the header, never assume it.",
        hint="Which letter of the orientation code is L or R? It names one voxel axis (x, y or z "
             "in SimpleITK's order); numpy's array puts the axes the other way round.",
        answer=answer)


@exercise(kind="predict")
def check_elastic_alignment(prediction: Any, same_draw_change: float, other_draw_change: float,
                            strength_mm: float | None = None,
                            preset_mm: float | None = None) -> bool:
    """04 (change, predict, verify): after a stronger elastic deformation, do the labels still match?

    Parameters: ``prediction``: "yes" or "no"; ``same_draw_change``: the largest change of a
    tissue's mean intensity inside the labels moved with the image's draw;
    ``other_draw_change``: the same with labels moved by another draw (misaligned);
    ``strength_mm``: the strength the notebook deformed with; ``preset_mm``: the preset's
    strength, the marked line's starting value (both None: no change asked for).
    """
    unchanged = strength_mm is not None and preset_mm is not None and \
        np.isclose(float(strength_mm), float(preset_mm))
    verdict = change_first(prediction, unchanged, "strength_mm = 3 * p.elastic_mm")
    if verdict is not None:
        return verdict
    same, other = float(same_draw_change), float(other_draw_change)
    truth = "yes" if same < 0.5 * other else "no"
    why = ("Image and labels are read at the same displaced positions (one draw), so each voxel "
           "keeps its label whatever the strength; only interpolation blurs the image a little. "
           "A stronger deformation makes less plausible anatomy (and can fold), not misaligned "
           "labels. Labels moved by another draw are what misalignment looks like.")
    if truth == "no":
        why = ("Here the tissue means moved almost as much as with another draw: look at the "
               "strength you chose, the deformation may fold the volume over itself.")
    return judge_prediction(
        prediction, truth, ("yes", "no"),
        why + f" Measured change: {same:.3f} (same draw) vs {other:.3f} (another draw).",
        hint="Read `deform` and `sample_at`: at which positions are the image and the labels "
             "read, and where does the strength enter the computation?")


@exercise(kind="predict")
def check_rotate_crop_order(prediction: Any, crop_first_share: float,
                            rotate_first_share: float, crop_first: bool = True) -> bool:
    """04 (change, predict, verify): does cropping before rotating invent more voxels in the patch?

    Parameters: ``prediction``: "more", "same" or "fewer"; ``crop_first_share``: the share of
    the patch's voxels read outside the block in the order the notebook ran (cropped, then
    rotated, once ``crop_first`` is set); ``rotate_first_share``: the same when the whole
    volume is rotated, then cropped; ``crop_first``: the marked line's switch (False: the
    starting, unchanged line).
    """
    verdict = change_first(prediction, not crop_first, "crop_first = True")
    if verdict is not None:
        return verdict
    first, after = float(crop_first_share), float(rotate_first_share)
    truth = "same" if abs(first - after) <= 0.005 else ("more" if first > after else "fewer")
    why = {"more": "A rotated block reaches, at its corners, beyond the block itself; cropped "
                   "first, there is nothing there but the repeated edge. Rotating the whole "
                   "volume first finds real anatomy around the block. Crop a larger block, "
                   "rotate, then crop the centre: cheap and without invented corners.",
           "fewer": "Unexpected: the whole volume's corners entered the patch. Is the block "
                    "near the volume's edge?",
           "same": "With no rotation (or a tiny one) nothing is read outside either way."}[truth]
    return judge_prediction(
        prediction, truth, ("more", "same", "fewer"),
        why + f" Measured: {first:.1%} crop first, {after:.1%} rotate first.",
        hint="Draw a square, turn it by 30 degrees inside a frame of the same size: what "
             "covers the frame's corners? And inside a much larger frame?")
