"""Exercises of notebook 00 setup."""

from __future__ import annotations

from typing import Any

from course_utils.exercises._core import _missing, exercise, feedback, judge_prediction

SIZE_CHOICES = ("half", "same", "double")


def size_change(before: float, after: float) -> str | None:
    """``"half"``, ``"same"`` or ``"double"`` for a measured change of size, None if neither.

    Parameters: ``before``, ``after``: two sizes (e.g. bytes) of the same data.
    """
    ratio = float(after) / float(before)
    return next((name for name, r in zip(SIZE_CHOICES, (0.5, 1.0, 2.0), strict=True)
                 if abs(ratio - r) < 0.02 * r), None)


@exercise
def check_preset_choice(answer: Any) -> bool:
    """00: which preset fits a 2 GB Binder session? (the default one)

    Parameters: ``answer``: a preset name.
    """
    from course_utils import config

    ok = isinstance(answer, str) and answer.strip().lower() == config.DEFAULT_PRESET
    return feedback(
        ok,
        "`binder` fits 2 GB of memory and about 10 minutes per notebook on 1-2 cores.",
        hint="look at the preset table above: which preset is sized for 2 GB RAM and no GPU?",
        answer=answer,
    )


@exercise(kind="predict")
def check_preset_precedence(prediction: Any, environment: str, argument: Any, resolved: str
                            ) -> bool:
    """00 (change, predict, verify): which preset wins, ``COURSE_PRESET`` or the argument?

    Parameters: ``prediction``: a preset name; ``environment``: the value ``COURSE_PRESET``
    had; ``argument``: the ``preset=`` given to ``config.resolve`` (None: not given);
    ``resolved``: the preset ``config.resolve`` chose.
    """
    from course_utils import config

    if argument is None:
        why = (f"With preset=None the notebook takes COURSE_PRESET ({environment!r}): that is how "
               "CI runs every notebook small without editing it.")
    else:
        why = (f"An explicit preset={argument!r} (the parameters cell, or papermill's -p) beats "
               f"COURSE_PRESET ({environment!r}): the closer to the notebook, the stronger.")
    return judge_prediction(prediction, resolved, config.PRESET_NAMES, why,
                            hint="read the 'Three ways to choose, later ones winning' list above "
                                 "and find which of them you used")


@exercise(kind="predict")
def check_cast_memory(prediction: Any, bytes_before: float, bytes_after: float) -> bool:
    """00 (change, predict, verify): how a cast changes the memory of a volume.

    Parameters: ``prediction``: "half", "same" or "double"; ``bytes_before``: ``nbytes``
    of the array as read; ``bytes_after``: ``nbytes`` after the cast.
    """
    truth = size_change(bytes_before, bytes_after)
    if truth is None and not _missing(prediction):
        print(f"❌ The cast changed the size {bytes_after / bytes_before:.2f}x: set the dtype "
              "line back to one of the suggested types.")
        return False
    why = (f"{bytes_before / 2**20:.1f} MB -> {bytes_after / 2**20:.1f} MB: memory is voxels x "
           "bytes per voxel (int16 and float16: 2, float32: 4, float64: 8); the voxels do not "
           "change, only how each is stored. Networks compute in float32, so a volume in "
           "memory usually costs 4 bytes per voxel, twice its 16-bit file.")
    return judge_prediction(prediction, truth or "", SIZE_CHOICES, why,
                            hint="a voxel's memory is its dtype's itemsize: compare the "
                                 "itemsize of the two dtypes")
