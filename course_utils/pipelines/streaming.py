"""Streaming NIfTI files into tf.data without a second copy: whole volumes, or patches.

Whole volumes (:func:`nifti_volumes`): one ``map(num_parallel_calls)`` step per file
reads it (``tf.io.read_file``, gunzipped by ``decode_compressed`` for .nii.gz), cuts the
voxel bytes after the header, decodes, casts and whitens it: TensorFlow ops only, so
the calls run in parallel without the GIL. Patches (:func:`nifti_patches`): one Python
call per batch reads every patch of the batch through numpy memory maps.
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
    PathLike,
    order,
    parallelism,
    tf_module,
)
from course_utils.pipelines.nifti import NiftiLayout, common_layout, nifti_info, read_voxels

_EPS = 1e-8


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


_FUSED: list = []


def _whitener():
    """One XLA-compiled function: stored voxels -> float32, whitened (two passes in all)."""
    tf = tf_module()
    if not _FUSED:
        @tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
        def whiten(voxels, sign):
            x = tf.cast(voxels, tf.float32) * sign
            mean = tf.reduce_mean(x)
            centred = x - mean
            std = tf.sqrt(tf.reduce_mean(tf.square(centred)))
            return centred / tf.where(std < _EPS, tf.ones_like(std), std)
        _FUSED.append(whiten)
    return _FUSED[0]


def _volume(file, layout: NiftiLayout, whiten: bool):
    """TF ops: a file name -> float32 ``[z, y, x, 1]``, scaled and optionally whitened."""
    tf = tf_module()
    voxels = _voxels(file, layout)
    if whiten:  # whitening removes scaling, except for the sign of a negative slope
        x = _whitener()(voxels, tf.constant(-1.0 if layout.slope < 0 else 1.0))
    else:
        x = tf.cast(voxels, tf.float32)
        x = x * layout.slope + layout.inter if layout.scaled else x
    return tf.reshape(x, (*layout.shape, 1))


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
    items: dict[str, Any] = {"image": paths}
    if kind != "none":
        items["label"] = [str(v) for v in labels] if kind == "maps" else target
    guard = Guard(paths + (items["label"] if kind == "maps" else []))

    @tf.autograph.experimental.do_not_convert  # plain TF ops: nothing for AutoGraph to convert
    def read(item):
        x = _volume(item["image"], layout, whiten)
        if kind == "none":
            return x
        return x, (_label_map(item["label"], target) if kind == "maps" else item["label"])

    ds = order(tf.data.Dataset.from_tensor_slices(items), len(paths), shuffle, seed, repeat)
    ds = ds.map(read, num_parallel_calls=parallelism(num_parallel_calls), deterministic=True)
    ds = ds.batch(batch_size).prefetch(prefetch)
    ds.course_guard = guard
    return ds
