"""Random patches streamed from NIfTI: memory maps of .nii, one inflate per visit of .nii.gz."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.errors import CourseError
from course_utils.pipelines._common import (
    AUTOTUNE,
    BufferPool,
    PathLike,
    aligned_empty,
    check_patch,
    order,
    patch_corners,
    tf_module,
)
from course_utils.pipelines.nifti import (
    NiftiLayout,
    common_layout,
    read_voxels,
    thread_buffer,
    whitening_affine,
)
from course_utils.pipelines.streaming import Guard, _calls, _targets


def _cut(files: list[str], info: NiftiLayout, indices: np.ndarray, corners: np.ndarray,
         out: np.ndarray, affine: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Fill ``out[j]`` with the voxels of subject ``indices[j]`` at ``corners[j]``, cast to
    ``out``'s type and, with ``affine = (a, b)``, mapped to ``a[i] * v + b[i]``. A file is read
    once for consecutive patches (a .nii.gz only up to their last slice); slabs of ~1 MB,
    so that the affine step finds them in the cache."""
    size, last, voxels = out.shape[1:], None, None
    buffer = thread_buffer(info.offset + info.nbytes) if info.compressed else None
    step = max(1, (1 << 20) // (int(np.prod(size[1:])) * out.itemsize))
    for j, (i, (z, y, x)) in enumerate(zip(indices, corners, strict=True)):
        if i != last:
            deepest = max(c[0] for c, k in zip(corners[j:], indices[j:], strict=True) if k == i)
            last, voxels = i, read_voxels(files[i], info, buffer, deepest + size[0])
        for k in range(0, size[0], step):
            slab = out[j, k:k + step]
            slab[...] = voxels[z + k:z + k + len(slab), y:y + size[1], x:x + size[2]]
            if affine is not None:
                slab *= affine[0][i]
                slab += affine[1][i]


def _patch_reader(paths: list[str], layout: NiftiLayout, label_files: list[str] | None,
                  label_layout: NiftiLayout | None, size: tuple[int, ...], seed: int,
                  affine: np.ndarray, guard: Guard):
    """A numpy function ``(subject indices, patch counters) -> (x [b, *size, 1], y [b, *size])``:
    one call per batch, corners drawn from ``(seed, first subject, first counter)``;
    ``x = a * stored + b`` with subject ``i``'s ``a, b = affine[i]`` (scaling and whitening),
    written into an aligned pooled array that TensorFlow takes without a copy."""
    a, b = affine[:, 0].astype(np.float32), affine[:, 1].astype(np.float32)
    pool = BufferPool()

    def read(indices: np.ndarray, counters: np.ndarray):
        try:  # one generator per batch: batches are made in a fixed order, so it is repeatable
            rng = np.random.default_rng([seed, int(indices[0]), int(counters[0])])
            corners = patch_corners(layout.shape, size, len(indices), rng)
            x = pool.take((len(indices), *size, 1), np.float32)
            _cut(paths, layout, indices, corners, x[..., 0], (a, b))
            if label_files is None:
                return x, np.zeros((len(x), 1, 1, 1), np.uint8)
            y = np.empty(x.shape[:-1], np.float32)
            _cut(label_files, label_layout, indices, corners, y)
            if label_layout.scaled:
                y = y * np.float32(label_layout.slope) + np.float32(label_layout.inter)
            labels = aligned_empty(y.shape, np.uint8)
            labels[...] = np.rint(y, out=y)
            return x, labels
        except CourseError as exc:
            guard.error = guard.error or exc
            raise
    return read


def nifti_patches(paths: Sequence[PathLike], labels: Sequence[Any] | None = None, *,
                  patch_size: Sequence[int], n_patches: int = 1, batch_size: int = 5,
                  shuffle: bool = True, seed: int = 42, repeat: bool = True,
                  whiten: bool = True, num_parallel_calls: int = AUTOTUNE,
                  prefetch: int = AUTOTUNE):
    """Batches of random patches read straight from NIfTI files, no second copy.

    From a ``.nii`` only each patch's bytes are read (numpy memory map); a ``.nii.gz`` is
    inflated once per subject visit (zlib, in parallel threads) and its patches cut from
    that. Whitening uses each volume's mean and standard deviation, computed once here
    (:func:`volume_stats`) and applied with the header's scaling in one affine step.
    Parameters: ``paths`` image files (one shape, data type and compression); ``labels`` None,
    label-map files (uint8 patches at the same places) or one number per subject;
    ``patch_size`` (z, y, x); ``n_patches`` patches per subject visit; ``batch_size``;
    ``shuffle``; ``seed``; ``repeat``; ``whiten``; ``num_parallel_calls`` batches read
    at once; ``prefetch`` batches prepared ahead.
    """
    tf = tf_module()
    paths = [str(p) for p in paths]
    layout = common_layout(paths, "image")
    kind, target = _targets(labels, paths, layout.shape)
    size = check_patch(patch_size, layout.shape, paths[0])
    n = checks.integer(n_patches, name="n_patches", minimum=1)
    batch_size = checks.integer(batch_size, name="batch_size", minimum=1)
    label_files = [str(v) for v in labels] if kind == "maps" else None
    guard = Guard(paths + (label_files or []))
    read = _patch_reader(paths, layout, label_files, target if kind == "maps" else None, size,
                         int(seed), whitening_affine(paths, layout, whiten), guard)
    values = tf.constant(target if kind == "values" else np.zeros(len(paths), np.float32))

    @tf.autograph.experimental.do_not_convert  # plain TF ops: nothing for AutoGraph to convert
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
    slots = visits.enumerate().map(tf.autograph.experimental.do_not_convert(
        lambda k, i: (tf.fill([n], i), k * n + tf.range(n, dtype=tf.int64)))).unbatch()
    ds = slots.batch(batch_size).map(load, num_parallel_calls=_calls(num_parallel_calls),
                                     deterministic=True)
    ds = ds.prefetch(prefetch)
    ds.course_guard = guard
    return ds
