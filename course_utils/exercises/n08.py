"""Exercises of notebook 08 sex classification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_majority_accuracy(answer: Any, truth: Sequence[int], train_truth: Sequence[int]) -> bool:
    """08: accuracy of always predicting the most common training class, on held-out subjects.

    Parameters: ``answer``: a fraction in [0, 1]; ``truth``: held-out labels;
    ``train_truth``: training labels.
    """
    majority = np.bincount(np.asarray(train_truth, dtype=int)).argmax()
    expected = np.mean(np.asarray(truth, dtype=int) == majority)
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"Always answering class {majority} is right {expected:.0%} of the time: accuracy "
        "alone flatters a classifier when the classes are unbalanced.",
        hint=("find the most common class of the TRAINING labels (np.bincount(...).argmax()), "
              "then the share of held-out labels equal to it."),
        answer=answer,
    )
