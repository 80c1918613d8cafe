"""Exercises of notebook 08 sex classification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import (
    _missing,
    change_first,
    close,
    exercise,
    feedback,
    judge_prediction,
)


def _majority(train_truth: Sequence[int]) -> int:
    return int(np.bincount(np.asarray(train_truth, dtype=int)).argmax())


@exercise
def check_majority_confusion(answer: Any, truth: Sequence[int], train_truth: Sequence[int]) -> bool:
    """08: the confusion matrix of always answering the most common training class, on the test set.

    Parameters: ``answer``: a 2x2 array, rows the true class (F, M), columns the answer;
    ``truth``: test labels (0 = F, 1 = M); ``train_truth``: training labels.
    """
    from course_utils.demographics import SEX_CLASSES  # imports pandas: only when checked

    majority = _majority(train_truth)
    truth = np.asarray(truth, dtype=int)
    expected = np.zeros((2, 2), int)
    expected[:, majority] = np.bincount(truth, minlength=2)  # everyone lands in one column
    if close(answer, expected.T) and not close(answer, expected):
        hint = "rows are the TRUE classes, columns the answers: yours is transposed."
    else:
        hint = ("rows are the true classes (F, M), columns the answers (F, M), as in the "
                "figure above. The baseline gives every test subject the same answer: which "
                "column do they all fall into, and how many of each true class are there?")
    return feedback(
        close(answer, expected),
        f"Every test subject lands in the column of '{SEX_CLASSES[majority]}' and the other "
        f"column is empty: accuracy (the diagonal over the total) is "
        f"{np.trace(expected) / expected.sum():.2f}, although every one of the "
        f"{expected[1 - majority].sum()} test subjects of the other class is wrong.",
        hint=hint,
        answer=answer,
    )


@exercise(kind="predict")
def check_majority_balanced_accuracy(prediction: Any, truth: Sequence[int],
                                     train_truth: Sequence[int]) -> bool:
    """08: predict the balanced accuracy of the majority-class baseline.

    Parameters: ``prediction``: "below 0.5", "0.5" or "above 0.5"; ``truth``: test
    labels; ``train_truth``: training labels (the majority class).
    """
    truth = np.asarray(truth, dtype=int)
    majority = _majority(train_truth)
    recalls = [float(np.mean(truth[truth == c] == majority)) for c in np.unique(truth)]
    value = float(np.mean(recalls))
    measured = "0.5" if abs(value - 0.5) < 1e-9 else ("below 0.5" if value < 0.5 else "above 0.5")
    return judge_prediction(
        prediction, measured, ("below 0.5", "0.5", "above 0.5"),
        why=(f"measured: {value:.2f}. Balanced accuracy is the mean of the per-class "
             "accuracies (sensitivity and specificity for two classes). A constant answer "
             "gets every subject of one class right and every subject of the other wrong: "
             f"(1 + 0) / 2 = 0.5, however unbalanced the test set, where plain accuracy "
             f"gave {np.mean(truth == majority):.2f}."),
        hint=("split the test subjects by their true class: what share of the women does "
              "the constant answer get right, and what share of the men? Then average the two."),
    )


@exercise(kind="predict")
def check_threshold(prediction: Any, probability_m: Sequence[float], truth: Sequence[int],
                    threshold: float) -> bool:
    """08: predict which of sensitivity and specificity can only rise when the threshold moves.

    Parameters: ``prediction``: "sensitivity" or "specificity"; ``probability_m``: the
    model's probability of M (class 1) per test subject; ``truth``: test labels;
    ``threshold``: the new threshold (answer M above it), compared with 0.5.
    """
    p, truth = np.asarray(probability_m, float), np.asarray(truth, dtype=int)

    def rates(cut: float) -> tuple[float, float]:
        called = p > cut  # above: at 0.5 a tie goes to F, as argmax gives it
        return float(np.mean(called[truth == 1])), float(np.mean(~called[truth == 0]))

    verdict = change_first(prediction, float(threshold) == 0.5, "`threshold = ...`, e.g. 0.3")
    if verdict is not None:
        return verdict
    (sens0, spec0), (sens1, spec1) = rates(0.5), rates(float(threshold))
    measured = "sensitivity" if threshold < 0.5 else "specificity"
    return judge_prediction(
        prediction, measured, ("sensitivity", "specificity"),
        why=(f"measured at 0.5 -> {threshold:g}: sensitivity (men called M) {sens0:.2f} -> "
             f"{sens1:.2f}, specificity (women called F) {spec0:.2f} -> {spec1:.2f}. A lower "
             "threshold calls M more often: no man called M before is lost, so sensitivity "
             "can only rise (or stay), and specificity can only fall; a higher threshold does "
             "the reverse. The ROC curve is exactly this trade-off, one point per threshold."),
        hint=("a subject is called M when its probability of M is above the threshold: when "
              "the threshold moves, which subjects can change their answer, and in which "
              "direction?"),
    )


def _cross_entropy(probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """-log p(true class) per subject (probabilities clipped at 1e-7, as Keras clips them)."""
    picked = np.take_along_axis(probabilities, truth[:, None], axis=-1)[:, 0]
    return -np.log(np.clip(picked, 1e-7, 1.0))


@exercise(kind="predict")
def check_averaged_cross_entropy(prediction: Any, views: Any, truth: Sequence[int]) -> bool:
    """08: predict whether averaging views' probabilities can raise the cross-entropy.

    Parameters: ``prediction``: "lower or the same" or "higher" (the cross-entropy of the
    averaged probabilities compared with the mean cross-entropy of the same views scored
    one at a time); ``views``: the probabilities averaged, ``[views, subjects, classes]``,
    one row per crop (and mirrored crop); ``truth``: the test labels (0 = F, 1 = M).
    """
    views, truth = np.asarray(views, float), np.asarray(truth, dtype=int)
    if (views.ndim != 3 or views.shape[1] != len(truth)) and not _missing(prediction):
        print("❌ Give rows of `views`, [views, subjects, classes], e.g. views[:2] "
              f"(got shape {views.shape}).")
        return False
    verdict = change_first(prediction, len(views) < 2, "`chosen = ...`: two views or more, e.g. views")
    if verdict is not None:
        return verdict
    views = np.clip(views, 1e-7, 1.0)  # the clipping first, so the comparison is exact
    averaged = float(_cross_entropy(views.mean(axis=0), truth).mean())
    single = float(np.mean([_cross_entropy(v, truth) for v in views]))
    right_avg = float(np.mean(views.mean(axis=0).argmax(-1) == truth))
    right_single = float(np.mean(views.argmax(-1) == truth[None]))
    measured = "higher" if averaged > single + 1e-9 else "lower or the same"
    return judge_prediction(
        prediction, measured, ("lower or the same", "higher"),
        why=(f"measured on {len(views)} views: cross-entropy {averaged:.3f} for their averaged "
             f"probabilities against {single:.3f} for one view at a time (accuracy "
             f"{right_avg:.2f} against {right_single:.2f}). The cross-entropy -log p is convex "
             "in p, so the loss of an average is at most the average of the losses (Jensen's "
             "inequality): equal only when all views give the same probabilities. Accuracy has "
             "no such guarantee: an averaged answer can flip either way."),
        hint=("for one man, imagine two views giving p(M) = 0.9 and 0.1: what is -log p(M) "
              "for each view, and for their average 0.5? Which curve bends that way?"),
    )
