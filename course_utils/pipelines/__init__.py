"""tf.data input pipelines for 3D volumes (lesson 02): the three classic ways and a fast one.

1. **In memory** (:mod:`.memory`, :func:`memory_dataset`): indices shuffled, volumes
   gathered from one in-memory tensor. Fastest and simplest; the whole database must
   fit in memory.
2. **TFRecords** (:mod:`.tfrecords`): examples serialised once into (sharded) record
   files, read with ``TFRecordDataset(...).map(decode)``. Fast parallel reads, but a
   second copy of the database on disk.
3. **Python generator** (:mod:`.generator`): DLTK's ``read_fn(file_references, mode,
   params)`` reads each file with SimpleITK, whitens, optionally cuts random patches,
   and ``from_generator`` feeds it. No extra copy, but one Python thread does all.
4. **Streaming NIfTI without a second copy**: whole volumes (:mod:`.streaming`,
   :func:`nifti_volumes`: a parallel ``map`` of :func:`volume_map`, one numpy call per file
   that reads, casts and whitens it in one multiply-add per slab) and random patches
   (:mod:`.patches`, :func:`nifti_patches`: one numpy call per batch reads only the
   patches' bytes through memory maps), both built on the header's :class:`NiftiLayout`
   (:mod:`.nifti`).

:mod:`.timing` times pipelines next to numpy/zlib floors measured in the same run;
:func:`batches` iterates a pipeline and turns TensorFlow errors caused by its files
back into the course's errors. Elements are ``(x, y)`` tuples (``x``: float32
``[z, y, x, C]``), ready for ``model.fit``; without labels (or in predict mode) ``x``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.pipelines._common import AUTOTUNE, MODES, PathLike
from course_utils.pipelines.generator import (
    extract_random_example_array,
    generator_dataset,
    read_fn,
)
from course_utils.pipelines.memory import memory_dataset
from course_utils.pipelines.nifti import (
    NiftiLayout,
    nifti_info,
    read_nifti_patch,
    volume_stats,
    whiten_tf,
    whitening_affine,
)
from course_utils.pipelines.patches import nifti_patches
from course_utils.pipelines.streaming import nifti_volumes, read_scaled, volume_map
from course_utils.pipelines.synthetic import synthetic_volume, write_synthetic_volumes
from course_utils.pipelines.tfrecords import (
    ENCODINGS,
    serialize_example,
    tfrecord_dataset,
    tfrecord_spec,
    write_tfrecords,
)
from course_utils.pipelines.timing import (
    Timing,
    batches,
    gunzip_floor,
    memory_growth,
    patch_floor,
    read_floor,
    time_batches,
    time_per_batch,
    time_run,
)


def nifti_dataset(paths: Sequence[PathLike], labels: Sequence[Any] | None = None, *,
                  patch_size: Sequence[int] | None = None, n_patches: int = 1, **options):
    """Stream NIfTI files: :func:`nifti_volumes` (``patch_size=None``) or
    :func:`nifti_patches` (``n_patches`` random patches of ``patch_size`` per subject visit).

    Parameters: ``paths``, ``labels`` and ``options`` (``batch_size``, ``shuffle``,
    ``seed``, ``repeat``, ``whiten``, ``num_parallel_calls``, ``prefetch``) as there.
    """
    if patch_size is None:
        return nifti_volumes(paths, labels, **options)
    return nifti_patches(paths, labels, patch_size=patch_size, n_patches=n_patches, **options)


__all__ = [
    "AUTOTUNE", "ENCODINGS", "MODES", "NiftiLayout", "Timing", "batches",
    "extract_random_example_array", "generator_dataset", "gunzip_floor", "memory_dataset",
    "memory_growth",
    "nifti_dataset", "nifti_info", "nifti_patches", "nifti_volumes", "patch_floor",
    "read_floor", "read_fn", "read_nifti_patch", "read_scaled", "serialize_example",
    "synthetic_volume",
    "tfrecord_dataset", "tfrecord_spec", "time_batches", "time_per_batch", "time_run",
    "volume_map", "volume_stats", "whiten_tf", "whitening_affine", "write_synthetic_volumes",
    "write_tfrecords",
]
