"""Exercises of notebook 09 representation learning."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_psnr(answer: Any, predicted: np.ndarray, reference: np.ndarray) -> bool:
    """09/10: PSNR in dB of ``predicted`` against ``reference`` (range of the reference).

    Parameters: ``answer``: PSNR in dB; ``predicted``: the prediction; ``reference``: the
    ground truth.
    """
    predicted = np.asarray(predicted, dtype=float)
    reference = np.asarray(reference, dtype=float)
    mse = np.mean((predicted - reference) ** 2)
    expected = 10 * np.log10(np.ptp(reference) ** 2 / mse)
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"{expected:.2f} dB. Every halving of the MSE adds about 3 dB.",
        hint=("PSNR = 10 * log10(range**2 / MSE), with range = reference.max() - reference.min() "
              "and MSE the mean squared difference."),
        answer=answer,
    )
