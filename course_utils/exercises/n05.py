"""Exercises of notebook 05 class balancing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_median_frequency(answer: Any, labels: Sequence[np.ndarray], n_classes: int) -> bool:
    """05: median-frequency class weights median(f) / f_c from a list of label volumes.

    Parameters: ``answer``: one weight per class; ``labels``: the label volumes;
    ``n_classes``: how many classes.
    """
    voxels = np.zeros(n_classes)
    present = np.zeros(n_classes)
    for lab in labels:
        counts = np.bincount(np.asarray(lab).ravel(), minlength=n_classes)[:n_classes]
        voxels += counts
        present += np.where(counts > 0, np.asarray(lab).size, 0)
    freq = voxels / np.maximum(present, 1)
    expected = np.median(freq) / freq
    return feedback(
        close(answer, expected, rtol=1e-3),
        "Rare classes (the lesions) get weights far above 1, common ones (background) below 1.",
        hint=("f_c = voxels of class c / voxels of the volumes that contain c; the weight is "
              "np.median(f) / f_c, one per class."),
        answer=answer,
    )
