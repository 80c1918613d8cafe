"""Exercises of notebook 06 segmentation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    _missing,
    close,
    exercise,
    feedback,
    judge_prediction,
)


def _window_count(shape: Sequence[int], window: int, overlap: float) -> int:
    from course_utils import inference

    return len(list(inference.windows(shape, (window,) * 3, overlap)))


@exercise
def check_window_count(answer: Any, shape: Sequence[int] = (48, 56, 48), window: int = 24,
                       overlap: float = 0.5) -> bool:
    """06: how many sliding windows cover a volume of ``shape``?

    Parameters: ``answer``: a count; ``shape``: the volume's (z, y, x); ``window``: the
    window's edge in voxels; ``overlap``: the fraction shared by neighbours.
    """
    expected = _window_count(shape, window, overlap)
    ok = not _missing(answer) and close(answer, expected)
    step = int(round(window * (1 - overlap)))
    return feedback(
        ok,
        f"{expected} windows: the counts per axis multiply, and the last window of each axis "
        "is moved back to end flush with the volume.",
        hint=f"per axis, windows start every {step} voxels (0, {step}, ...) as long as they fit, "
        "plus one flush with the end if the last start leaves voxels uncovered; multiply the "
        "three counts.",
        answer=answer,
    )


@exercise(kind="predict")
def check_overlap_windows(prediction: Any, shape: Sequence[int], window: int,
                          overlap: float, changed_overlap: float) -> bool:
    """06: change the windows' overlap: more, the same number or fewer windows per volume?

    Parameters: ``prediction``: "more", "same" or "fewer"; ``shape``: the volume's (z, y, x);
    ``window``: the window's edge in voxels; ``overlap``: the notebook's overlap;
    ``changed_overlap``: the learner's.
    """
    before = _window_count(shape, window, overlap)
    after = _window_count(shape, window, changed_overlap)
    truth = "more" if after > before else ("fewer" if after < before else "same")
    why = {"fewer": "A smaller overlap is a larger step between window starts, so fewer "
                    "windows per axis, and the three counts multiply. Each voxel is then "
                    "averaged over fewer windows: faster, but seams between windows show "
                    "more (blockier).",
           "more": "A larger overlap is a smaller step between window starts, so more windows "
                   "per axis (the counts multiply): slower, and each voxel is averaged over "
                   "more windows (smoother seams).",
           "same": "With this overlap the windows start at the same places: the step "
                   "window x (1 - overlap), rounded, did not change."}[truth]
    return judge_prediction(
        prediction, truth, ("more", "same", "fewer"),
        why + f" Counted: {before} windows at overlap {overlap}, {after} at {changed_overlap}.",
        hint="Two window starts are window x (1 - overlap) voxels apart. What happens to "
             "that step, and then to the count along each of the three axes?")


@exercise
def check_lesion_f1(answer: Any, counts: Mapping[str, int]) -> bool:
    """06: the lesion-wise F1 of one subject from its lesion counts.

    Parameters: ``answer``: a number in [0, 1]; ``counts``: from ``metrics.lesion_counts``
    (true, detected, predicted and correct lesions).
    """
    from course_utils import metrics

    expected = metrics.detection_scores(dict(counts))["f1"]
    return feedback(
        close(answer, expected, rtol=1e-3, atol=1e-3),
        "Recall counts the true lesions touched by the prediction, precision the predicted "
        "lesions that touch a true one; F1 is their harmonic mean.",
        hint="recall = detected / true, precision = correct / predicted (each 1 when its "
             "denominator is 0); F1 = 2 x recall x precision / (recall + precision).",
        answer=answer,
    )


@exercise(kind="predict")
def check_native_dice(prediction: Any, standard_dice: float, native_dice: float) -> bool:
    """06: the mean tissue Dice on each scan's own grid against the standardised grid.

    Parameters: ``prediction``: "higher", "same" or "lower" (native against standardised);
    ``standard_dice``: mean tissue Dice measured on the standardised grid;
    ``native_dice``: the same on the scans' own grids.
    """
    standard, native = float(standard_dice), float(native_dice)
    truth = "same" if abs(native - standard) < 0.005 else ("higher" if native > standard else "lower")
    why = ("Both grids hold the same prediction, but each Dice compares it with a different "
           "truth: on the standardised grid with labels that were themselves resampled "
           "(nearest neighbour, one more step of error), on the native grid with the labels "
           "as delivered, after resampling the probabilities back (linear, then arg-max). "
           "Thick slices blur more boundary voxels into the wrong class either way; "
           "the native number is the one a clinical user would see.")
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: {standard:.3f} standardised, {native:.3f} native.",
        hint="Which truth does each Dice compare with, and how many resampling steps lie "
             "between that truth and the labels as they were delivered?")
