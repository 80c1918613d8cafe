"""Exercises of notebook 06 segmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import _missing, close, exercise, feedback


@exercise
def check_window_count(answer: Any, shape: Sequence[int] = (48, 56, 48), window: int = 24,
                       overlap: float = 0.5) -> bool:
    """06: how many sliding windows cover a volume of ``shape``?

    Parameters: ``answer``: a count; ``shape``: the volume's (z, y, x); ``window``: the
    window's edge in voxels; ``overlap``: the fraction shared by neighbours.
    """
    from course_utils import inference

    expected = len(list(inference.windows(shape, (window,) * 3, overlap)))
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
