"""Exercises of notebook 03 normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    _missing,
    _shape,
    change_first,
    close,
    exercise,
    feedback,
    judge_prediction,
    shape_hint,
)


@exercise
def check_masked_whitening(answer: Any, image: np.ndarray, mask: np.ndarray) -> bool:
    """03: whiten ``image`` with the mean and standard deviation of the voxels inside ``mask``.

    Parameters: ``answer``: the whitened array; ``image``: the volume; ``mask``: the
    brain mask (same shape).
    """
    x = np.asarray(image, dtype=np.float64)
    inside = x[np.asarray(mask, dtype=bool)]
    expected = (x - inside.mean()) / inside.std()
    ok = close(answer, expected, rtol=1e-3, atol=1e-3)
    hint = ("image[mask] gives the brain voxels: take both statistics from them only, then "
            "use them on every voxel of the image, background included.")
    if not _missing(answer) and _shape(answer) != x.shape:
        hint = shape_hint(answer, x.shape)
    return feedback(ok, "Inside the brain the result has mean 0 and standard deviation 1; the "
                    "background no longer drags the statistics.", hint=hint, answer=answer)


CLIPPED_CHOICES = ("few", "about half", "most")
START_WINDOW = (0.0, 80.0)  # the CT window of the notebook's unchanged experiment, in HU


@exercise(kind="predict")
def check_window_clipping(prediction: Any, csf_hu: np.ndarray, window: Any) -> bool:
    """03 (change, predict, verify): how many CSF voxels does a CT window clip to -1?

    Parameters: ``prediction``: "few", "about half" or "most"; ``csf_hu``: the CSF voxels'
    values in HU; ``window``: the (low, high) window in HU the notebook rescaled with.
    """
    low, high = (float(v) for v in window)
    verdict = change_first(prediction, (low, high) == START_WINDOW, "window = (20, 60)")
    if verdict is not None:
        return verdict
    values = np.asarray(csf_hu, dtype=np.float64).ravel()
    clipped = float(np.mean(values <= low))
    truth = CLIPPED_CHOICES[0] if clipped < 1 / 3 else CLIPPED_CHOICES[2] if clipped > 2 / 3 \
        else CLIPPED_CHOICES[1]
    why = (f"CSF lies around {np.median(values):.0f} HU, with a spread of {values.std():.0f} HU "
           f"(the noise); {clipped:.0%} of its voxels are at or below the window's low end "
           f"({low:g} HU). Every one of them becomes -1, the value of air and of everything "
           "darker than the window: the network can no longer tell them apart. A window must "
           "hold every tissue you want to separate, with room for its noise.")
    return judge_prediction(
        prediction, truth, CLIPPED_CHOICES, why,
        hint="where does CSF sit (its HU value and the noise around it, printed above) "
             "compared with the window's low end? Everything below `low` becomes -1.")


@exercise(kind="predict")
def check_whiten_without_mask(prediction: Any, image: np.ndarray, mask: np.ndarray) -> bool:
    """03: whitened WITHOUT the brain mask, is the brain's mean above, at or below zero?

    Parameters: ``prediction``: "above", "zero" or "below"; ``image``: the T1 volume;
    ``mask``: its brain mask (the check whitens ``image`` over all voxels itself).
    """
    x = np.asarray(image, dtype=np.float64)
    brain = np.asarray(mask, dtype=bool)
    background = 1 - brain.mean()
    brain_mean = float(((x - x.mean()) / x.std())[brain].mean())
    truth = "above" if brain_mean > 0.05 else "below" if brain_mean < -0.05 else "zero"
    return judge_prediction(
        prediction, truth, ("above", "zero", "below"),
        why=(f"without the mask the statistics come from every voxel, and {background:.0%} of "
             f"them are background at 0; their mean sits far below the brain's, so the brain "
             f"ends up at {brain_mean:+.2f} (and its spread, compared with the huge "
             "background-to-brain jump, looks small)."),
        hint="which voxels are most numerous in the volume, and what is their intensity? The "
             "mean is pulled towards them.")


def _roughness(image: sitk.Image, brain: sitk.Image, spacing: float, smooth: bool) -> float:
    """Mean absolute step between neighbouring voxels inside the brain, relative to its mean,
    after resampling ``image`` to ``spacing`` mm (with or without the anti-aliasing blur)."""
    from course_utils import preprocessing

    new = [float(spacing)] * 3
    source = preprocessing.smooth_before_downsampling(image, new) if smooth else image
    size = preprocessing.resampled_size(image, new)
    coarse = sitk.GetArrayFromImage(sitk.Resample(
        sitk.Cast(source, sitk.sitkFloat32), size, sitk.Transform(), sitk.sitkBSpline,
        image.GetOrigin(), new, image.GetDirection(), 0.0, sitk.sitkFloat32))
    inside = sitk.GetArrayFromImage(preprocessing.resample_isotropic(brain, spacing,
                                                                     is_label=True)) > 0
    steps = [np.abs(np.diff(coarse, axis=a))[np.take(inside, range(inside.shape[a] - 1), axis=a)]
             for a in range(3)]
    return float(np.mean(np.concatenate(steps)) / coarse[inside].mean())


@exercise(kind="predict")
def check_skip_smoothing(prediction: Any, image: sitk.Image, label: sitk.Image,
                         spacing: float) -> bool:
    """03: downsampled WITHOUT the Gaussian blur, are the voxel-to-voxel jumps higher, the same or lower?

    Parameters: ``prediction``: "higher", "same" or "lower"; ``image``: the subject's T1
    (SimpleITK); ``label``: its labels (the brain is label > 0); ``spacing``: the coarse
    spacing in mm. The check resamples both ways itself.
    """
    with_blur = _roughness(image, label, spacing, smooth=True)
    without = _roughness(image, label, spacing, smooth=False)
    ratio = without / with_blur
    truth = "higher" if ratio > 1.05 else "lower" if ratio < 1 / 1.05 else "same"
    coarser = [round(new, 6) > round(old, 6) for old, new in
               zip(image.GetSpacing(), [float(spacing)] * 3, strict=True)]
    if any(coarser):
        why = (f"without the blur the jumps are {ratio:.2f} times those with it. Each coarse "
               "voxel then samples one point of detail finer than itself (thin cortex, noise) "
               "instead of its neighbourhood's average: that detail folds back as false, "
               "voxel-sized variation (aliasing), which no later step can tell from anatomy.")
    else:
        why = (f"the jumps are {ratio:.2f} times those with the blur: no axis gets coarser at "
               f"{float(spacing):g} mm (the thick axis gets finer, the others keep their "
               "spacing), so there is no finer detail to fold back and the blur has nothing to "
               "do. It matters only where voxels get larger.")
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER, why=why,
        hint="compare the old spacing (image.GetSpacing()) with the new one, axis by axis: "
             "along which axes do the voxels get larger, and what does the blur do there and "
             "along the others?")


@exercise
def check_resampled_size(answer: Any, image: sitk.Image, spacing: float) -> bool:
    """03: the size (x, y, z) of ``image`` resampled to ``spacing`` mm with the same extent.

    Parameters: ``answer``: three integers (x, y, z); ``image``: the SimpleITK image;
    ``spacing``: the new isotropic spacing in mm.
    """
    expected = [max(1, round(n * s / float(spacing)))
                for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    hint = ("per axis (x, y, z, in SimpleITK's order: image.GetSize(), image.GetSpacing()), "
            "keep the extent size * spacing in mm, divide it by the new spacing and round.")
    if not _missing(answer) and _shape(answer) != (3,):
        hint = shape_hint(answer, (3,))
    return feedback(close(answer, expected, rtol=0, atol=0.01),
                    f"{expected}: same extent in mm, so the origin, the direction and the "
                    "anatomy's place in the world are unchanged.", hint=hint, answer=answer)


@exercise(kind="predict")
def check_jacobian_ventricles(prediction: Any, jacobian: np.ndarray, region: np.ndarray) -> bool:
    """03: after affine registration, is the B-spline's Jacobian determinant in ``region`` above 1, 1 or below 1?

    Parameters: ``prediction``: "above", "one" or "below"; ``jacobian``: the deformable part's
    determinant map on the template grid; ``region``: booleans on that grid (the ventricles).
    """
    values = np.asarray(jacobian, dtype=np.float64)[np.asarray(region, dtype=bool)]
    mean = float(values.mean()) if values.size else 1.0
    truth = "above" if mean > 1.02 else "below" if mean < 0.98 else "one"
    return judge_prediction(
        prediction, truth, ("above", "one", "below"),
        why=(f"the mean determinant there is {mean:.2f}: a determinant above 1 means that a "
             "piece of the template maps onto a larger piece of the subject. Affine registration "
             "matched the overall size; what is left is local, the shape (enlarged ventricles "
             "in an older brain, for example), and the deformable transform now holds it."),
        hint="the transform maps template points to subject points. Are this subject's "
             "ventricles, after the affine step removed the brain's overall size, larger or "
             "smaller than the template's? (Look at its age.)")
