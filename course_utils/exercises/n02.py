"""Exercises of notebook 02 I/O benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_batch_megabytes(answer: Any, example_shape: Sequence[int], batch_size: int) -> bool:
    """02: megabytes (2**20 bytes) of one float32 batch of ``example_shape`` x 1 channel.

    Parameters: ``answer``: megabytes; ``example_shape``: (z, y, x) of one example;
    ``batch_size``: examples per batch.
    """
    expected = float(np.prod(example_shape)) * int(batch_size) * 4 / 2**20
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"{expected:.1f} MB per batch: that is what every pipeline must deliver each step.",
        hint="multiply the voxels of one example by the batch size and by 4 bytes per float32, "
             "then divide by 2**20 (1,048,576) for MB",
        answer=answer,
    )


@exercise
def check_io_bound(answer: Any, seconds_per_batch: dict, step_seconds: float) -> bool:
    """02: which pipelines keep the model waiting (slower per batch than one training step)?

    Parameters: ``answer``: a list of pipeline names; ``seconds_per_batch``: name ->
    measured seconds per batch; ``step_seconds``: seconds of one training step.
    """
    expected = sorted(k for k, v in seconds_per_batch.items() if v > step_seconds)
    ok = (isinstance(answer, (list, tuple, set, np.ndarray))
          and sorted(str(name) for name in answer) == expected)
    success = (f"{expected}: only these make the training step wait; for the others the step "
               "itself is the bottleneck." if expected else
               "none: every pipeline delivers a batch faster than one training step, so a faster "
               "pipeline would not speed this training up.")
    return feedback(
        ok,
        success,
        hint="compare each pipeline's seconds per batch with the seconds of one training step; "
             "answer a list of names (an empty list if none)",
        answer=answer,
    )
