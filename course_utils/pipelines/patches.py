"""Random patches streamed from uncompressed NIfTI through numpy memory maps (lesson 02)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.errors import CourseError, DataError
from course_utils.pipelines._common import (
    AUTOTUNE,
    PathLike,
    check_patch,
    order,
    parallelism,
    patch_corners,
    tf_module,
)
from course_utils.pipelines.nifti import NiftiLayout, common_layout, read_nifti_patch, volume_stats
from course_utils.pipelines.streaming import Guard, _targets


def _patch_reader(paths: list[str], layout: NiftiLayout, label_files: list[str] | None,
                  label_layout: NiftiLayout | None, size: tuple[int, ...], seed: int,
                  stats: np.ndarray, guard: Guard):
    """A numpy function ``(subject indices, patch counters) -> (x [b, *size, 1], y [b, *size])``:
    one call per batch, corners drawn from ``(seed, first subject, first counter)``."""
    shift, scale = stats[:, 0].astype(np.float32), (1.0 / stats[:, 1]).astype(np.float32)

    def read(indices: np.ndarray, counters: np.ndarray):
        try:  # one generator per batch: batches are made in a fixed order, so it is repeatable
            rng = np.random.default_rng([seed, int(indices[0]), int(counters[0])])
            corners = patch_corners(layout.shape, size, len(indices), rng)
            x = np.empty((len(indices), *size), np.float32)
            for j, (i, c) in enumerate(zip(indices, corners, strict=True)):
                read_nifti_patch(paths[i], c, size, layout, out=x[j])
            x -= shift[indices].reshape(-1, 1, 1, 1)
            x *= scale[indices].reshape(-1, 1, 1, 1)
            if label_files is None:
                return x[..., None], np.zeros((len(x), 1, 1, 1), np.uint8)
            y = np.empty_like(x)
            for j, (i, c) in enumerate(zip(indices, corners, strict=True)):
                read_nifti_patch(label_files[i], c, size, label_layout, out=y[j])
            return x[..., None], np.round(y).astype(np.uint8)
        except CourseError as exc:
            guard.error = guard.error or exc
            raise
        except OSError as exc:  # a file removed or cut after the dataset was built
            guard.error = guard.error or DataError(
                f"could not read a patch ({exc}); the files changed after the dataset was "
                "built: regenerate them and build the dataset again", path=exc.filename)
            raise
    return read


def nifti_patches(paths: Sequence[PathLike], labels: Sequence[Any] | None = None, *,
                  patch_size: Sequence[int], n_patches: int = 1, batch_size: int = 5,
                  shuffle: bool = True, seed: int = 42, repeat: bool = True,
                  whiten: bool = True, num_parallel_calls: int = AUTOTUNE,
                  prefetch: int = AUTOTUNE):
    """Batches of random patches read straight from uncompressed NIfTI (.nii) files.

    Only each patch's bytes are read (numpy memory map); whitening uses each volume's
    mean and standard deviation, computed once here (:func:`volume_stats`).
    Parameters: ``paths`` image files (.nii, one shape and data type); ``labels`` None,
    label-map files (uint8 patches at the same places) or one number per subject;
    ``patch_size`` (z, y, x); ``n_patches`` patches per subject visit; ``batch_size``;
    ``shuffle``; ``seed``; ``repeat``; ``whiten``; ``num_parallel_calls`` batches read
    at once; ``prefetch`` batches prepared ahead.
    """
    tf = tf_module()
    paths = [str(p) for p in paths]
    layout = common_layout(paths, "image")
    kind, target = _targets(labels, paths, layout.shape)
    if layout.compressed or (kind == "maps" and target.compressed):
        raise DataError(
            f"patch streaming memory-maps uncompressed NIfTI, but {paths[0]} is compressed "
            "(.nii.gz); store the database as .nii (io.write_image(image, 'name.nii')), or "
            "read whole volumes (patch_size=None)", path=paths[0])
    size = check_patch(patch_size, layout.shape, paths[0])
    n = checks.integer(n_patches, name="n_patches", minimum=1)
    batch_size = checks.integer(batch_size, name="batch_size", minimum=1)
    stats = np.array([volume_stats(p, layout) if whiten else (0.0, 1.0) for p in paths])
    stats[:, 1] = np.where(stats[:, 1] < 1e-8, 1.0, stats[:, 1])
    label_files = [str(v) for v in labels] if kind == "maps" else None
    guard = Guard(paths + (label_files or []))
    read = _patch_reader(paths, layout, label_files, target if kind == "maps" else None, size,
                         int(seed), stats, guard)
    values = tf.constant(target if kind == "values" else np.zeros(len(paths), np.float32))

    def load(indices, counters):
        x, y = tf.numpy_function(read, [indices, counters], [tf.float32, tf.uint8],
                                 stateful=False)
        x = tf.ensure_shape(x, (None, *size, 1))
        if kind == "none":
            return x
        if kind == "maps":
            return x, tf.ensure_shape(y, (None, *size))
        return x, tf.gather(values, indices)

    visits = order(tf.data.Dataset.range(len(paths)), len(paths), shuffle, seed, repeat)
    slots = visits.enumerate().map(
        lambda k, i: (tf.fill([n], i), k * n + tf.range(n, dtype=tf.int64))).unbatch()
    # AUTOTUNE gives Python calls more threads than cores, which then fight for the GIL
    calls = parallelism(num_parallel_calls)
    calls = (os.cpu_count() or 1) if calls == AUTOTUNE else calls
    ds = slots.batch(batch_size).map(load, num_parallel_calls=calls, deterministic=True)
    ds = ds.prefetch(prefetch)
    ds.course_guard = guard
    return ds
