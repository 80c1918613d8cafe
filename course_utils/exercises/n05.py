"""Exercises of notebook 05 class balancing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    change_first,
    close,
    compare,
    exercise,
    feedback,
    judge_prediction,
)


def _median_frequency(labels: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """median(f) / f_c, with f_c = voxels of c / voxels of the volumes that contain c."""
    voxels = np.zeros(n_classes)
    present = np.zeros(n_classes)
    for lab in labels:
        counts = np.bincount(np.asarray(lab).ravel(), minlength=n_classes)[:n_classes]
        voxels += counts
        present += np.where(counts > 0, np.asarray(lab).size, 0)
    freq = voxels / np.maximum(present, 1)
    with np.errstate(divide="ignore"):  # a class in no volume: weight inf
        return np.median(freq) / freq


@exercise
def check_median_frequency(answer: Any, labels: Sequence[np.ndarray], n_classes: int) -> bool:
    """05: median-frequency class weights median(f) / f_c from a list of label volumes.

    Parameters: ``answer``: one weight per class; ``labels``: the label volumes;
    ``n_classes``: how many classes.
    """
    return feedback(
        close(answer, _median_frequency(labels, n_classes), rtol=1e-3),
        "Rare classes (the lesions) get weights far above 1, common ones (background) below 1.",
        hint=("Count each class's voxels over all volumes, and separately the voxels of the "
              "volumes in which the class occurs at all; f is their ratio, one per class."),
        answer=answer,
    )


@exercise(kind="predict")
def check_crop_weights(prediction: Any, cropped: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                       n_classes: int, lesion: int) -> bool:
    """05: the lesion's median-frequency weight once the label maps are cropped to the brain.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``cropped``: the cropped label
    maps; ``labels``: the whole ones; ``n_classes``: how many classes; ``lesion``: its label.
    """
    before, after = _median_frequency(labels, n_classes), _median_frequency(cropped, n_classes)
    truth = compare(float(after[lesion]), float(before[lesion]), 0.02, relative=True)
    median_before, median_after = (int(np.argsort(w)[n_classes // 2]) for w in (before, after))
    if truth == "same":
        why = ("Cropping removes background only. Each brain class keeps its voxels, and its "
               "share f_c is divided by the same smaller total, so the ratio median(f) / f_c "
               "of two such shares keeps its value. Only the background's own weight moves. "
               "Inverse-frequency weights 1 / f_c, by contrast, would all fall.")
    elif median_before != median_after:
        why = (f"The crop changed which class has the median share (class {median_before} "
               f"before, {median_after} after), so the numerator of every weight changed.")
    else:
        why = ("This cut removed lesion voxels and the median class's voxels unevenly (not "
               "background only), so the ratio of their shares changed.")
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: lesion weight {float(after[lesion]):.4g} cropped vs "
              f"{float(before[lesion]):.4g} whole.",
        hint="Which quantities in median(f) / f_c does cropping away background change, for "
             "the lesion and for the class with the median share?")


@exercise(kind="predict")
def check_lesion_weight_sampling(prediction: Any, changed_share: float, balanced_share: float,
                                 lesion_weight: float | None = None) -> bool:
    """05 (change, predict, verify): the lesion's voxel share in balanced batches at another weight.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``changed_share``: the lesion
    voxel share measured with the learner's lesion weight; ``balanced_share``: the share
    measured with equal weights; ``lesion_weight``: the marked line's weight (1, equal
    weights, is the unchanged line; None: no change asked for).
    """
    unchanged = lesion_weight is not None and float(lesion_weight) == 1.0
    verdict = change_first(prediction, unchanged, "lesion_weight = 0")
    if verdict is not None:
        return verdict
    truth = compare(float(changed_share), float(balanced_share), 0.25, relative=True)
    why = {"lower": "With weight 0 no patch is centred on a lesion: lesions only appear where "
                    "a patch drawn for white matter happens to include one, as with uniform "
                    "patches. With equal weights, one draw in K (K: the classes present) "
                    "centres a patch on a lesion.",
           "higher": "A larger weight centres more patches on lesions, so more lesion voxels "
                     "reach the batches.",
           "same": "The weight you set draws lesion-centred patches about as often as equal "
                   "weights do."}[truth]
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: {float(changed_share):.3%} vs {float(balanced_share):.3%}.",
        hint="With equal weights, what share of the patches is centred on a lesion voxel? "
             "Where do lesion voxels come from in the other patches?")


@exercise(kind="predict")
def check_smoothing(prediction: Any, changed_loss: float, default_loss: float,
                    smooth: float | None = None) -> bool:
    """05 (change, predict, verify): the soft Dice loss of a perfect empty-lesion patch, other ``smooth``.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``changed_loss``: the loss
    measured with the learner's smoothing term; ``default_loss``: with smooth = 1;
    ``smooth``: the marked line's term (1, the course's, is the unchanged line; None: no
    change asked for).
    """
    unchanged = smooth is not None and float(smooth) == 1.0
    verdict = change_first(prediction, unchanged, "smooth = 1e-5")
    if verdict is not None:
        return verdict
    changed, default = float(changed_loss), float(default_loss)
    truth = "same" if abs(changed - default) < 0.01 else ("higher" if changed > default else "lower")
    why = ("In a patch without lesions the lesion's probabilities add up to a small sum (a "
           "tiny probability times the patch's voxels). The lesion term is (0 + s) / (sum p + s): close to 1 (agreement) when s is large "
           "next to that sum, close to 0 (the worst score) when s is tiny. So a small s "
           "punishes a right answer; a large s forgives it.")
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: {changed:.3f} vs {default:.3f} with s = 1.",
        hint="Write the lesion's term (2 sum(p g) + s) / (sum(p) + sum(g) + s) for a patch "
             "with no lesion: what are sum(g) and sum(p g)? Then compare s with sum(p).")


@exercise(kind="predict")
def check_batch_dice(prediction: Any, changed_loss: float, per_sample_loss: float,
                     per_sample: bool | None = None) -> bool:
    """05 (change, predict, verify): soft Dice over a whole batch against the mean of one per patch.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``changed_loss``: the loss
    measured with the learner's ``per_sample`` setting; ``per_sample_loss``: the mean of
    the per-patch losses of the same batch; ``per_sample``: the marked line's setting
    (True, the course's default, is the unchanged line; None: no change asked for).
    """
    verdict = change_first(prediction, per_sample is True, "per_sample = False")
    if verdict is not None:
        return verdict
    truth = compare(float(changed_loss), float(per_sample_loss), 0.1, relative=True)
    why = ("Per patch, the patch without lesions has a lesion term of its own, and it counts "
           "as much as a patch full of lesion. Over the batch, the sums pool every patch: the "
           "lesion voxels of the other patches dominate and the empty patch's small "
           "probabilities hardly change the ratio, so the pooled loss is lower.")
    if truth == "same":
        why = "With per_sample=True both numbers are the same computation: one Dice per patch."
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why + f" Measured: {float(changed_loss):.4f} vs {float(per_sample_loss):.4f}.",
        hint="Per batch, the sums of p, g and p*g run over all patches together. Which patch "
             "gives the per-patch mean most of its value, and how much of the pooled sums is it?")
