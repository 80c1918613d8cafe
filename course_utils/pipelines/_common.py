"""Shared plumbing of the pipelines: TensorFlow import, modes, cohort rows, order, patches."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.errors import ShapeError

PathLike = str | os.PathLike

#: DLTK's modes (``tf.estimator.ModeKeys`` spelled ``infer`` for predict).
MODES = {"train": "train", "eval": "eval", "predict": "predict", "infer": "predict"}

AUTOTUNE = -1  # tf.data.AUTOTUNE


def tf_module():
    """TensorFlow, imported on first use (a clear error if it is not installed)."""
    from course_utils import config

    return config.require_tensorflow()


class _LazyTensorFlow:
    """``tf`` of the taught functions, imported on first use (a CourseError says how to
    install it), so that importing the pipelines does not start TensorFlow."""

    def __getattr__(self, name: str) -> Any:
        return getattr(tf_module(), name)


tf: Any = _LazyTensorFlow()  # annotated: tools/taught.py reads plain assignments badly


def mode_of(mode: Any) -> str:
    """``'train'``, ``'eval'`` or ``'predict'`` from ``mode`` (a string or ``ModeKeys``-like)."""
    key = str(getattr(mode, "value", mode)).lower()
    return MODES[checks.option(key, MODES, name="mode")]


def rows_of(file_references: Any) -> list[Mapping[str, Any]]:
    """Cohort rows from ``file_references``: a DataFrame, one mapping or a sequence of them."""
    if hasattr(file_references, "iterrows"):  # pandas DataFrame
        return [row for _, row in file_references.iterrows()]
    if isinstance(file_references, Mapping):
        return [file_references]
    return list(file_references)


def order(ds, n: int, shuffle: bool, seed: int, repeat: bool):
    """The one shuffle/repeat step of every pipeline: reshuffle ``n`` elements each epoch.

    Parameters: ``ds``, the dataset; ``shuffle``; ``seed``; ``repeat``, endlessly.
    """
    if shuffle:
        ds = ds.shuffle(int(n), seed=int(seed), reshuffle_each_iteration=True)
    return ds.repeat() if repeat else ds


def parallelism(num_parallel_calls: int | None) -> int:
    """``num_parallel_calls`` for tf.data: AUTOTUNE for None/-1, else a positive count."""
    if num_parallel_calls in (None, AUTOTUNE):
        return AUTOTUNE
    return checks.integer(num_parallel_calls, name="num_parallel_calls", minimum=1)


def aligned_empty(shape: Sequence[int], dtype) -> np.ndarray:
    """An uninitialised array whose data starts on a 64-byte boundary: ``tf.numpy_function``
    hands such an array to TensorFlow as it is, while it copies a misaligned one (numpy's
    large arrays start 16 bytes past a boundary; the copy cost more than whitening).

    Parameters: ``shape``; ``dtype`` a numpy data type.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(nbytes + 64, np.uint8)
    start = -buffer.ctypes.data % 64
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


class BufferPool:
    """Aligned arrays (:func:`aligned_empty`) given to TensorFlow and reused once it has let go.

    ``tf.numpy_function`` keeps a returned aligned array alive for as long as its tensor
    lives; a pooled buffer is handed out again only when nothing but the pool refers to it.
    A fresh 100 MB array costs page faults on every batch (more than whitening does).
    """

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, shape: Sequence[int], dtype) -> np.ndarray:
        """An uninitialised aligned array of ``shape`` and ``dtype`` (parameters as
        :func:`aligned_empty`), in a free pooled buffer when one is big enough."""
        dtype = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        with self._lock:
            chosen = None
            for owner in self._buffers:  # every view's base is its owner: count those
                if owner.size >= nbytes + 64 and sys.getrefcount(owner) <= 3:
                    chosen = owner  # (3: the list, `owner` and getrefcount's argument)
                    break
            if chosen is None:
                chosen = np.empty(nbytes + 64, np.uint8)
                self._buffers.append(chosen)
            start = -chosen.ctypes.data % 64
            return chosen[start:start + nbytes].view(dtype).reshape(shape)


def patch_corners(shape: Sequence[int], size: Sequence[int], n: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``n`` random (z, y, x) corners of ``size`` blocks in ``shape``, drawn with ``rng``."""
    return np.stack([rng.integers(0, s - p + 1, int(n))
                     for s, p in zip(shape, size, strict=True)], axis=1)


def check_patch(size: Sequence[int], shape: Sequence[int], where: str) -> tuple[int, ...]:
    """``size`` as a (z, y, x) triple that fits in ``shape``, else a ShapeError naming ``where``."""
    size = tuple(int(s) for s in np.broadcast_to(np.asarray(size), (3,)))
    if any(p < 1 for p in size) or any(p > s for p, s in zip(size, shape, strict=True)):
        raise ShapeError(
            f"patch size {size} (z, y, x) does not fit the volume {tuple(shape)} of {where}; "
            "use a smaller example_size/patch_size, or pad the volumes "
            "(preprocessing.crop_or_pad)",
            path=where,
        )
    return size
