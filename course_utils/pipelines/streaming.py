"""Streaming NIfTI files into tf.data without a second copy: whole volumes, or patches.

Whole volumes (:func:`nifti_volumes`): ``tf.data`` maps :func:`volume_map` over batches of
file names, in parallel: one ``tf.numpy_function`` call per batch reads each file's voxel
bytes into a reused buffer (inflated by zlib for .nii.gz), and casts, scales and whitens
them in one multiply-add per ~1 MB slab (:func:`read_scaled`, taught in lesson 02) straight
into a pooled batch array, with each volume's statistics computed once when the dataset
is built. numpy and zlib release the
GIL in these large operations, so the calls really run in parallel. Patches
(:func:`nifti_patches`): one Python call per batch reads every patch of the batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.errors import CourseError, ShapeError
from course_utils.pipelines._common import (
    AUTOTUNE,
    BufferPool,
    PathLike,
    order,
    parallelism,
    tf,
    tf_module,
)
from course_utils.pipelines.nifti import (
    NiftiLayout,
    common_layout,
    nifti_info,
    read_voxels,
    thread_buffer,
    whitening_affine,
)


class Guard:
    """What a pipeline needs to turn a TensorFlow error back into the course's error: the
    files it reads (``paths``) and the first course error raised inside its Python steps."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = list(paths)
        self.error: CourseError | None = None

    def explain(self) -> CourseError | None:
        """The course error behind a failed read: the one raised in a Python step, or a
        file that no longer reads as the pipeline was built for."""
        if self.error is not None:
            return self.error
        for p in self.paths:
            try:
                nifti_info(p)
            except CourseError as exc:
                return exc
        return None


def _targets(labels: Sequence[Any] | None, paths: Sequence[str],
             shape: tuple[int, ...]) -> tuple[str, Any]:
    """``("none", None)``, ``("maps", layout)`` for label-map files or ``("values", array)``."""
    if labels is None:
        return "none", None
    if len(labels) != len(paths):
        raise ShapeError(f"{len(paths)} image files but {len(labels)} labels")
    if all(isinstance(v, (str, os.PathLike)) for v in labels):
        layout = common_layout(labels, "label")
        if layout.shape != shape:
            raise ShapeError(f"label maps are {layout.shape} (z, y, x) but images are {shape}; "
                             "they must share one voxel grid", path=layout.path)
        return "maps", layout
    return "values", np.asarray(labels, dtype=np.float32)


def _gunzip_voxels(layout: NiftiLayout):
    """A numpy function: a .nii.gz file name -> its voxels, flat, native byte order
    (:func:`read_voxels`: one inflate, GIL released, the voxels a view of zlib's output)."""
    native = layout.dtype.newbyteorder("=")

    def read(file: bytes) -> np.ndarray:
        voxels = read_voxels(file.decode(), layout).reshape(-1)
        return voxels if voxels.dtype == native else voxels.astype(native)
    return read


def _voxels(file, layout: NiftiLayout):
    """TF ops: a file name -> its voxels as stored, flat (read whole, header cut off)."""
    tf = tf_module()
    native = tf.as_dtype(layout.dtype.newbyteorder("="))
    if layout.compressed:  # Python's zlib inflates faster than tf.io.decode_compressed
        flat = tf.numpy_function(_gunzip_voxels(layout), [file], native, stateful=False)
    else:
        data = tf.strings.substr(tf.io.read_file(file), layout.offset, layout.nbytes)
        flat = tf.io.decode_raw(data, native, little_endian=layout.dtype.byteorder != ">")
    return tf.ensure_shape(flat, (int(np.prod(layout.shape)),))


SLAB_BYTES = 1 << 20  # work on ~1 MB at a time: it stays in the CPU cache between steps


def read_scaled(path: str, a: float, b: float, layout: NiftiLayout,
                out: np.ndarray) -> np.ndarray:
    """Fill ``out`` (float32 ``[z, y, x, 1]``) with the voxels of the NIfTI file ``path`` as
    ``a * stored + b``: the header's scaling and the whitening in one multiply-add.

    Parameters: ``path``: the file; ``a``, ``b``: its scale and shift; ``layout``: where the
    file keeps its voxels (``nifti_info``); ``out``: the array to fill.
    """
    voxels = read_voxels(path, layout, thread_buffer(layout.offset + layout.nbytes))
    step = max(1, SLAB_BYTES // (out[0].size * 4))  # slices per slab
    for z in range(0, layout.shape[0], step):
        slab = out[z:z + step, ..., 0]
        slab[...] = voxels[z:z + step]  # read and cast to float32 in one pass
        slab *= a
        slab += b
    return out


def volume_map(layout: NiftiLayout):
    """The function ``tf.data`` maps over batches of ``(file names, a, b)``: read each volume
    with :func:`read_scaled` straight into one batch array (``tf.numpy_function``), and
    give the batch its static shape.

    Parameters: ``layout``: the files' common ``NiftiLayout`` (shape, data type, offset).
    """
    pool = BufferPool()  # aligned arrays TensorFlow takes without a copy, reused once free

    def read(paths: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = pool.take((len(paths), *layout.shape, 1), np.float32)
        for k, path in enumerate(paths):
            read_scaled(path.decode(), a[k], b[k], layout, out[k])
        return out

    def load(paths, a, b):
        x = tf.numpy_function(read, [paths, a, b], tf.float32, stateful=False)
        return tf.ensure_shape(x, (None, *layout.shape, 1))  # the static shape Keras needs
    return load


def _label_map(file, layout: NiftiLayout):
    """TF ops: a label-map file name -> uint8 ``[z, y, x]`` (scaling applied, rounded)."""
    tf = tf_module()
    y = _voxels(file, layout)
    if layout.scaled or layout.dtype.kind not in "iu":
        y = tf.round(tf.cast(y, tf.float32) * layout.slope + layout.inter)
    return tf.reshape(tf.cast(y, tf.uint8), layout.shape)


def nifti_volumes(paths: Sequence[PathLike], labels: Sequence[Any] | None = None, *,
                  batch_size: int = 5, shuffle: bool = True, seed: int = 42,
                  repeat: bool = True, whiten: bool = True,
                  num_parallel_calls: int = AUTOTUNE, prefetch: int = AUTOTUNE):
    """Batches of whole volumes streamed from NIfTI files (.nii or .nii.gz), no second copy.

    Parameters: ``paths`` image files (one shape, data type and compression);
    ``labels`` None, label-map files on the same grid (uint8 batches) or one number per
    subject; ``batch_size``; ``shuffle`` (subjects, each epoch); ``seed``; ``repeat``;
    ``whiten`` (zero mean, unit variance per volume; else the scaled values);
    ``num_parallel_calls`` files read at once (AUTOTUNE: as many as useful);
    ``prefetch`` batches prepared ahead. Memory holds a few batches, whatever the
    number of subjects.
    """
    tf = tf_module()
    paths = [str(p) for p in paths]
    layout = common_layout(paths, "image")
    kind, target = _targets(labels, paths, layout.shape)
    batch_size = checks.integer(batch_size, name="batch_size", minimum=1)
    affine = whitening_affine(paths, layout, whiten)
    items: dict[str, Any] = {"image": paths, "a": affine[:, 0], "b": affine[:, 1]}
    if kind != "none":
        items["label"] = [str(v) for v in labels] if kind == "maps" else target
    guard = Guard(paths + (items["label"] if kind == "maps" else []))
    load = volume_map(layout)

    @tf.autograph.experimental.do_not_convert  # plain TF ops: nothing for AutoGraph to convert
    def read(item):
        x = load(item["image"], item["a"], item["b"])
        if kind == "none":
            return x
        if kind == "values":
            return x, item["label"]
        return x, tf.map_fn(lambda f: _label_map(f, target), item["label"],
                            fn_output_signature=tf.uint8)

    ds = order(tf.data.Dataset.from_tensor_slices(items), len(paths), shuffle, seed, repeat)
    ds = ds.batch(batch_size).map(read, num_parallel_calls=_calls(num_parallel_calls),
                                  deterministic=True)
    ds = ds.prefetch(prefetch)
    ds.course_guard = guard
    return ds


def _calls(num_parallel_calls: int | None) -> int:
    """Parallel Python calls: AUTOTUNE would start more than the cores, which then fight for
    the GIL between their large operations; one per core (or the count asked for)."""
    calls = parallelism(num_parallel_calls)
    return (os.cpu_count() or 1) if calls == AUTOTUNE else calls
