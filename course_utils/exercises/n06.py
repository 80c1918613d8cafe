"""Exercises of notebook 06 segmentation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    _missing,
    change_first,
    close,
    exercise,
    feedback,
    judge_prediction,
)

MORE_SAME_FEWER = ("more", "same", "fewer")  # the choices of 06's counting predictions


def _judge_count(prediction: Any, before: int, after: int, why: Mapping[str, str],
                 counted: str, hint: str) -> bool:
    """Judge a more/same/fewer prediction on two measured counts, explained by ``why[truth]``.

    Parameters: ``prediction``: the learner's choice; ``before``, ``after``: the counts
    without and with the change; ``why``: the explanation of each outcome; ``counted``:
    the measurement, as a sentence; ``hint``: what to think about.
    """
    truth = "more" if after > before else ("fewer" if after < before else "same")
    return judge_prediction(prediction, truth, MORE_SAME_FEWER, f"{why[truth]} {counted}",
                            hint=hint)


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
    verdict = change_first(prediction, changed_overlap == overlap,
                           "`changed_overlap = p.overlap / 2`")
    if verdict is not None:
        return verdict
    before = _window_count(shape, window, overlap)
    after = _window_count(shape, window, changed_overlap)
    why = {"fewer": "A smaller overlap is a larger step between window starts, so fewer "
                    "windows per axis, and the three counts multiply. Each voxel is then "
                    "averaged over fewer windows: faster, but seams between windows show "
                    "more (blockier).",
           "more": "A larger overlap is a smaller step between window starts, so more windows "
                   "per axis (the counts multiply): slower, and each voxel is averaged over "
                   "more windows (smoother seams).",
           "same": "With this overlap the windows start at the same places: the step "
                   "window x (1 - overlap), rounded, did not change."}
    return _judge_count(
        prediction, before, after, why,
        f"Counted: {before} windows at overlap {overlap}, {after} at {changed_overlap}.",
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
    why = {
        "lower": "Lower: on the native grid the truth is the labels as delivered, and the "
                 "prediction took one resampling step (probabilities, linear, then arg-max) "
                 "away from the grid the network worked on; on thick-sliced scans boundary "
                 "voxels fall between standardised voxels and some get the wrong class. On the "
                 "standardised grid the truth had been resampled the same way as the input, so "
                 "that step's error was never counted.",
        "higher": "Higher: the standardised truth was itself resampled (nearest neighbour, "
                  "staircase boundaries) and the Dice there counted that error too; on the "
                  "native grid the truth is as delivered, and the linearly interpolated "
                  "probabilities follow its boundaries more closely.",
        "same": "The same (within 0.005): the one resampling step moved few voxels, so the "
                "scans' grids are close to the standardised one.",
    }[truth] + " Report the native number: it is what a clinical user sees."
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: {standard:.3f} standardised, {native:.3f} native.",
        hint="Which truth does each Dice compare with, and how many resampling steps lie "
             "between that truth and the labels as they were delivered?")


@exercise(kind="predict")
def check_lesion_connectivity(prediction: Any, n_true: int, n_true_changed: int,
                              connectivity: int) -> bool:
    """06: count lesions with faces only (6-connected): more, the same or fewer true lesions?

    Parameters: ``prediction``: "more", "same" or "fewer"; ``n_true``: true lesions of the
    test subjects counted 26-connected (``connectivity=3``); ``n_true_changed``: counted with
    the learner's ``connectivity``; ``connectivity``: the learner's (1, 2 or 3).
    """
    verdict = change_first(prediction, connectivity == 3, "`connectivity = 1`")
    if verdict is not None:
        return verdict
    before, after = int(n_true), int(n_true_changed)
    why = {"more": "More: voxels that touch only by an edge or a corner no longer join, so "
                   "some lesions split into several components (a rule can only split, "
                   "never merge, when it drops neighbours).",
           "same": "The same: every lesion of these labels is joined through faces, so "
                   "dropping edge and corner neighbours split none (it could never merge any).",
           "fewer": "Fewer: this rule joined lesions that 26 neighbours kept apart, which "
                    "fewer kinds of neighbour cannot do: check the marked line."}
    return _judge_count(
        prediction, before, after, why,
        f"Counted: {before} true lesions with connectivity 3, {after} with {connectivity}.",
        hint="A component is a set of lesion voxels linked neighbour to neighbour. With fewer "
             "kinds of neighbour, can two lesions become one, or one lesion become two?")
