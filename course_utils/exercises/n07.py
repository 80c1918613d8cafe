"""Exercises of notebook 07 age regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    _missing,
    change_first,
    close,
    exercise,
    feedback,
    judge_prediction,
)

CHOICES = HIGHER_SAME_LOWER


def _mae(predicted: Any, truth: Any) -> float:
    return float(np.mean(np.abs(np.asarray(predicted, float) - np.asarray(truth, float))))


@exercise
def check_median_baseline_mae(answer: Any, truth: Sequence[float],
                              train_truth: Sequence[float]) -> bool:
    """07: MAE on the test subjects of always predicting the MEDIAN training age.

    Parameters: ``answer``: the MAE in years; ``truth``: test ages;
    ``train_truth``: training ages.
    """
    median, mean = float(np.median(train_truth)), float(np.mean(train_truth))
    expected, mean_mae = _mae(median, truth), _mae(mean, truth)
    if close(answer, mean_mae, rtol=1e-3) and not close(answer, expected, rtol=1e-3):
        hint = ("that is the MAE of the mean baseline of section 7; this baseline answers "
                "another constant, the middle value of the training ages.")
    else:
        hint = ("this baseline answers one number for every test subject, the middle value of "
                "the TRAINING ages (numpy has a function for it); its error on a subject is "
                "the distance to that number, and the MAE averages those distances.")
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"Always answering the median training age ({median:.1f}) is off by {expected:.1f} "
        f"years on the test subjects, the mean ({mean:.1f}) by {mean_mae:.1f}. On the training "
        "ages the median is the constant with the smallest MAE and the mean the one with the "
        "smallest squared error (the loss we train with); on new subjects either can win.",
        hint=hint,
        answer=answer,
    )


@exercise(kind="predict")
def check_baseline_on_young(prediction: Any, probe_truth: Sequence[float], truth: Sequence[float],
                            train_truth: Sequence[float]) -> bool:
    """07: predict the baseline's MAE on other subjects (e.g. only the young) vs on the test set.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``probe_truth``: ages of the
    subjects the baseline is scored on instead; ``truth``: test ages; ``train_truth``:
    training ages (their mean is the baseline's answer).
    """
    unchanged = np.array_equal(np.sort(np.asarray(probe_truth, float)),
                               np.sort(np.asarray(truth, float)))
    verdict = change_first(prediction, unchanged, "`probe = ...`, e.g. age < 30")
    if verdict is not None:
        return verdict
    if len(probe_truth) == 0 and not _missing(prediction):
        print("❌ The marked line selects no subject: choose a group that has some, e.g. age < 30.")
        return False
    guess = float(np.mean(train_truth))
    probe, test = _mae(guess, probe_truth), _mae(guess, truth)
    measured = "same" if abs(probe - test) < 0.5 else ("higher" if probe > test else "lower")
    return judge_prediction(
        prediction, measured, CHOICES,
        why=(f"measured: {probe:.1f} years on these {len(probe_truth)} subjects against "
             f"{test:.1f} on the test set. The baseline always answers {guess:.1f}: its error "
             "is the distance of each age from the training mean, so it is small for "
             "middle-aged subjects and large at both ends. A baseline's (and a model's) MAE "
             "describes a test set as much as a method: compare MAEs only on the same subjects, "
             "or on sets with the same spread of ages."),
        hint=("what number does the baseline answer for every subject, and how far is a "
              "young subject's age from it compared with a typical test subject's?"),
    )


@exercise(kind="predict")
def check_crop_averaging(prediction: Any, views: Any, truth: Sequence[float]) -> bool:
    """07: predict whether averaging views' predictions can have a higher MAE than single views.

    Parameters: ``prediction``: "lower or the same" or "higher" (the MAE of the averaged
    prediction compared with the mean MAE of the same views scored one at a time);
    ``views``: the predicted ages averaged, ``[views, subjects]``, one row per crop (and
    mirrored crop); ``truth``: the ages.
    """
    views, truth = np.asarray(views, float), np.asarray(truth, float)
    if (views.ndim != 2 or views.shape[1] != len(truth)) and not _missing(prediction):
        print(f"❌ Give rows of `views`, [views, subjects], e.g. views[:2] (got shape {views.shape}).")
        return False
    verdict = change_first(prediction, len(views) < 2,
                           "`chosen = ...`: two views or more, e.g. views[:2]")
    if verdict is not None:
        return verdict
    averaged, single = _mae(views.mean(axis=0), truth), _mae(views, truth[None])
    measured = "higher" if averaged > single + 1e-6 else "lower or the same"
    gain = ("lower: some subjects' views err on both sides of their age" if averaged < single - 1e-3
            else "the same: for every subject all views err in the same direction")
    return judge_prediction(
        prediction, measured, ("lower or the same", "higher"),
        why=(f"measured on {len(views)} views: {averaged:.2f} years for their average against "
             f"{single:.2f} for one view at a time, {gain}. Averaging can never do worse: the "
             "error of a mean is at most the mean of the errors (|mean(p) - t| <= "
             "mean(|p - t|), the triangle inequality). It gains for every subject whose views "
             "err on both sides of the true age, and nothing when they all err the same way "
             "(a model that has not learned much, predicting everyone near the mean, often does)."),
        hint=("for one subject, imagine two views predicting 5 years too old and 5 years too "
              "young: what is the error of each view, and of their average? And if both are "
              "5 years too old?"),
    )
