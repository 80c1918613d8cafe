"""Exercises of notebook 00 setup."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.exercises._core import _missing, change_first, exercise, judge_prediction

SIZE_CHOICES = ("half", "same", "double")
FINER_CHOICES = ("same", "double", "four times", "eight times")


def size_change(before: float, after: float, choices: tuple[str, ...] = SIZE_CHOICES,
                ratios: tuple[float, ...] = (0.5, 1.0, 2.0)) -> str | None:
    """The choice whose ratio matches a measured change of size (within 2%), None if none does.

    Parameters: ``before``, ``after``: two sizes (e.g. bytes) of the same data; ``choices``
    and ``ratios``: the names and the ``after / before`` ratio each stands for.
    """
    ratio = float(after) / float(before)
    return next((name for name, r in zip(choices, ratios, strict=True)
                 if abs(ratio - r) < 0.02 * r), None)


@exercise(kind="predict")
def check_preset_precedence(prediction: Any, environment: str, argument: Any, resolved: str
                            ) -> bool:
    """00 (change, predict, verify): which preset wins, ``COURSE_PRESET`` or the argument?

    Parameters: ``prediction``: a preset name; ``environment``: the value ``COURSE_PRESET``
    had; ``argument``: the ``preset=`` given to ``config.resolve`` (None: not given);
    ``resolved``: the preset ``config.resolve`` chose.
    """
    from course_utils import config

    verdict = change_first(prediction, argument is None, 'choice = "full"')
    if verdict is not None:
        return verdict
    why = (f"An explicit preset={argument!r} (the parameters cell, or papermill's -p) beats "
           f"COURSE_PRESET ({environment!r}): the closer to the notebook, the stronger. With "
           "preset=None the notebook takes COURSE_PRESET: that is how CI runs every notebook "
           "small without editing it.")
    return judge_prediction(prediction, resolved, config.PRESET_NAMES, why,
                            hint="read the 'Three ways to choose, later ones winning' list above "
                                 "and find which of them you used")


@exercise(kind="predict")
def check_cast_memory(prediction: Any, bytes_before: float, bytes_after: float,
                      dtype_before: Any = None, dtype_after: Any = None) -> bool:
    """00 (change, predict, verify): how a cast changes the memory of a volume.

    Parameters: ``prediction``: "half", "same" or "double"; ``bytes_before``: ``nbytes``
    of the array as read; ``bytes_after``: ``nbytes`` after the cast; ``dtype_before``,
    ``dtype_after``: the two dtypes (None: the cast counts as unchanged if the sizes are equal).
    """
    unchanged = (bytes_after == bytes_before if dtype_before is None or dtype_after is None
                 else np.dtype(dtype_before) == np.dtype(dtype_after))
    verdict = change_first(prediction, unchanged, "dtype = np.float32")
    if verdict is not None:
        return verdict
    truth = size_change(bytes_before, bytes_after)
    if truth is None and not _missing(prediction):
        print(f"❌ The cast changed the size {bytes_after / bytes_before:.2f}x: set the dtype "
              "line back to one of the suggested types.")
        return False
    why = (f"{bytes_before / 2**20:.1f} MiB -> {bytes_after / 2**20:.1f} MiB: memory is voxels x "
           "bytes per voxel (int16 and float16: 2, float32: 4, float64: 8); the voxels do not "
           "change, only how each is stored. Networks compute in float32, so a volume in "
           "memory usually costs 4 bytes per voxel, twice its 16-bit file.")
    return judge_prediction(prediction, truth or "", SIZE_CHOICES, why,
                            hint="a voxel's memory is its dtype's itemsize: compare the "
                                 "itemsize of the two dtypes")


@exercise(kind="predict")
def check_finer_voxels(prediction: Any, bytes_before: float, bytes_after: float) -> bool:
    """00 (change, predict, verify): voxels half as wide along each axis cost how much memory?

    Parameters: ``prediction``: one of :data:`FINER_CHOICES`; ``bytes_before``:
    ``nbytes`` of the volume as stored; ``bytes_after``: ``nbytes`` once resampled finer.
    """
    from course_utils import config

    verdict = change_first(prediction, bytes_after == bytes_before, "factor = 2")
    if verdict is not None:
        return verdict
    truth = size_change(bytes_before, bytes_after, FINER_CHOICES, (1.0, 2.0, 4.0, 8.0))
    if truth is None and not _missing(prediction):
        print(f"❌ The memory changed {bytes_after / bytes_before:.2f}x: set the marked line to factor = 2 and run "
              "that cell again.")
        return False
    spacing = {name: config.COMMON[name]["spacing"] for name in config.PRESET_NAMES}
    why = (f"{bytes_before / 2**20:.1f} MiB -> {bytes_after / 2**20:.1f} MiB: each old voxel is "
           "now 2 x 2 x 2 new ones, so a volume costs 8 times the memory (and the network 8 "
           "times the computation). The presets' voxel sizes ("
           + ", ".join(f"{n} {s:g} mm" for n, s in spacing.items())
           + ") are chosen for this: each halving of the spacing multiplies the memory by 8, "
           "which is why the finest preset wants a GPU machine, not Binder's 2 GB.")
    return judge_prediction(prediction, truth or "", FINER_CHOICES, why,
                            hint="count how many new voxels fill one old voxel")
