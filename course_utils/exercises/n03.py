"""Exercises of notebook 03 normalisation."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.exercises._core import _missing, _shape, close, exercise, feedback, shape_hint


@exercise
def check_masked_whitening(answer: Any, image: np.ndarray, mask: np.ndarray) -> bool:
    """03: whiten ``image`` with the mean and standard deviation of the voxels inside ``mask``.

    Parameters: ``answer``: the whitened array; ``image``: the volume; ``mask``: the
    brain mask (same shape).
    """
    x = np.asarray(image, dtype=np.float64)
    inside = x[np.asarray(mask, dtype=bool)]
    expected = (x - inside.mean()) / inside.std()
    ok = close(answer, expected, rtol=1e-3, atol=1e-3)
    hint = ("take the statistics from image[mask] only, then apply them to the whole image: "
            "(image - m) / s.")
    if not _missing(answer) and _shape(answer) != x.shape:
        hint = shape_hint(answer, x.shape)
    return feedback(ok, "Inside the brain the result has mean 0 and standard deviation 1; the "
                    "background no longer drags the statistics.", hint=hint, answer=answer)


@exercise
def check_brain_window(answer: Any) -> bool:
    """03: a CT window (low, high) in HU that spreads brain tissue (CSF 15, WM 25, GM 40) out.

    Parameters: ``answer``: two numbers (low, high) in HU.
    """
    ok = False
    try:
        low, high = (float(v) for v in answer)
        # textbook brain window is about (0, 80); accept windows that keep CSF..GM inside
        # and are narrow enough to separate them (at most 200 HU wide)
        ok = low <= 10 and high >= 45 and high - low <= 200 and low > -200
    except (TypeError, ValueError):
        pass
    return feedback(ok, "A narrow window around 0-80 HU spends the whole [-1, 1] range on the "
                    "few tens of HU that separate CSF, white and grey matter.",
                    hint="give two numbers (low, high): low below CSF (~15 HU), high above grey "
                    "matter (~40 HU), and not much wider than 100-200 HU.", answer=answer)
