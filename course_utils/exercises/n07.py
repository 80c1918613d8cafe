"""Exercises of notebook 07 age regression."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_baseline_mae(answer: Any, truth: Sequence[float], train_truth: Sequence[float]) -> bool:
    """07: MAE of always predicting the training mean, on held-out subjects.

    Parameters: ``answer``: the MAE in years; ``truth``: held-out ages;
    ``train_truth``: training ages.
    """
    truth = np.asarray(truth, dtype=float)
    expected = np.mean(np.abs(truth - np.mean(train_truth)))
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"The baseline is off by {expected:.1f} years on average: the bar a model must clear.",
        hint=("the baseline predicts np.mean(age[train]) for everyone; average the absolute "
              "differences to age[held_out] (mean of the TRAINING ages, not the held-out ones)."),
        answer=answer,
    )
