"""Exercises of notebook 07 age regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    close,
    exercise,
    feedback,
    judge_prediction,
)

CHOICES = HIGHER_SAME_LOWER


def _mae(predicted: Any, truth: Any) -> float:
    return float(np.mean(np.abs(np.asarray(predicted, float) - np.asarray(truth, float))))


@exercise
def check_baseline_mae(answer: Any, truth: Sequence[float], train_truth: Sequence[float]) -> bool:
    """07: MAE of always predicting the training mean, on the test subjects.

    Parameters: ``answer``: the MAE in years; ``truth``: test ages;
    ``train_truth``: training ages.
    """
    expected = _mae(np.mean(train_truth), truth)
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"The baseline is off by {expected:.1f} years on average: the bar a model must clear.",
        hint=("the baseline predicts np.mean(age[train]) for everyone; average the absolute "
              "differences to age[test] (mean of the TRAINING ages, not the test ones)."),
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
    """07: predict whether averaging the crops' predictions can have a higher MAE than single crops.

    Parameters: ``prediction``: "lower or the same" or "higher" (the MAE of the averaged
    prediction compared with the mean MAE of single crops); ``views``: predicted ages,
    ``[views, subjects]``, one row per crop (and mirrored crop); ``truth``: the ages.
    """
    views = np.asarray(views, float).reshape(len(views), -1)
    averaged, single = _mae(views.mean(axis=0), truth), _mae(views, np.asarray(truth, float)[None])
    measured = "higher" if averaged > single + 1e-6 else "lower or the same"
    gain = ("lower: some subjects' crops err on both sides of their age" if averaged < single - 1e-3
            else "the same: for every subject all crops err in the same direction")
    return judge_prediction(
        prediction, measured, ("lower or the same", "higher"),
        why=(f"measured: {averaged:.2f} years for the averaged prediction against {single:.2f} "
             f"for one crop at a time, {gain}. Averaging can never do worse: the error of a mean "
             "is at most the mean of the errors (|mean(p) - t| <= mean(|p - t|), the triangle "
             "inequality). It gains for every subject whose crops err on both sides of the true "
             "age, and nothing when they all err the same way (a model that has not learned "
             "much, predicting everyone near the mean, often does)."),
        hint=("for one subject, imagine two crops predicting 5 years too old and 5 years too "
              "young: what is the error of each crop, and of their average? And if both are "
              "5 years too old?"),
    )
