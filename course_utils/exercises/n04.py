"""Exercises of notebook 04 augmentation."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.exercises._core import close, exercise, feedback


@exercise
def check_flip_pair(answer: Any, image: np.ndarray, label: np.ndarray) -> bool:
    """04: (image, label) mirrored left-right together ([z, y, x(, C)]: x is axis 2).

    Parameters: ``answer``: the pair (flipped image, flipped label); ``image``, ``label``:
    the originals.
    """
    ok = False
    hint = ("flip BOTH arrays along axis 2 (x runs left-right in the LPS layout [z, y, x]): "
            "np.flip(array, axis=2).")
    try:
        got_image, got_label = answer
        ok = (close(got_image, np.flip(image, axis=2))
              and close(got_label, np.flip(label, axis=2)))
        if close(got_image, np.flip(image, axis=2)) and close(got_label, label):
            hint = "the image is flipped but the labels are not: they no longer match the image."
    except (TypeError, ValueError):
        pass
    return feedback(ok, "Image and labels are mirrored together, so every voxel keeps its label.",
                    hint=hint, answer=answer)
