"""Exercises of notebook 10 super-resolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import close, exercise, feedback, shape_hint


@exercise
def check_low_res_shape(answer: Any, shape: Sequence[int], factor: int) -> bool:
    """10: the spatial shape of a volume average-pooled by ``factor`` along each axis.

    Parameters: ``answer``: three sizes; ``shape``: the high-resolution shape;
    ``factor``: the pooling factor.
    """
    expected = [int(n) // int(factor) for n in shape[:3]]
    return feedback(
        close(answer, expected),
        f"{tuple(expected)}: each low-resolution voxel averages {factor}**3 = {factor**3} voxels.",
        hint=shape_hint(answer, (3,)) + f" Divide each of the first three sizes by {factor}.",
        answer=answer,
    )
