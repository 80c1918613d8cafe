"""Method 3: DLTK's ``read_fn`` generator and its ``from_generator`` dataset (lesson 02)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import io
from course_utils.errors import CourseError, DataError
from course_utils.pipelines._common import check_patch, mode_of, patch_corners, rows_of, tf_module
from course_utils.pipelines.streaming import Guard


def extract_random_example_array(image: np.ndarray, label: np.ndarray | None,
                                 example_size: Sequence[int], n_examples: int,
                                 rng: np.random.Generator, where: str = "the image"):
    """``n_examples`` random patches ``[n, *example_size, C]`` (and label patches) of a volume.

    Parameters: ``image`` ``[z, y, x, C]``; ``label`` a label map ``[z, y, x]`` (patches
    are then class-balanced by ``sampling.random_patches``) or None; ``example_size``
    (z, y, x); ``n_examples``; ``rng``; ``where`` names the image in errors.
    """
    size = check_patch(example_size, image.shape[:3], where)
    if label is not None:
        from course_utils import sampling

        return sampling.random_patches(image, label, size, n_examples, rng)
    corners = patch_corners(image.shape[:3], size, n_examples, rng)
    patches = np.stack([image[z:z + size[0], y:y + size[1], x:x + size[2]]
                        for z, y, x in corners])
    return patches, None


def read_fn(file_references: Any, mode: Any, params: Mapping[str, Any] | None = None
            ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """DLTK's reader: for each subject yield ``{'features': {'x': ...}, 'labels': {'y': ...}}``.

    ``file_references``: cohort rows (a DataFrame or dicts with one path column
    per sequence and a ``label`` column). ``params``: ``sequences`` (default
    ``["t1"]``), ``label`` (column of the target: a label-map path column such as
    ``"label"``, or a scalar column such as ``"age"``; default ``"label"``),
    ``whiten`` (default True), ``example_size`` (z, y, x patch size; None = whole
    volume), ``n_examples`` (patches per subject), ``seed``. In predict mode only
    features (plus ``subject_id``) are yielded, always for whole volumes; with
    ``label=None`` (or an empty target) train/eval examples have features only.
    """
    from course_utils import preprocessing

    mode = mode_of(mode)
    params = dict(params or {})
    sequences = list(params.get("sequences", ["t1"]))
    label_key = params.get("label", "label")
    example_size = params.get("example_size")
    n_examples = int(params.get("n_examples", 1))
    rng = np.random.default_rng(params.get("seed", 42))
    for row in rows_of(file_references):
        for name in sequences:
            path = row.get(name) if hasattr(row, "get") else None
            if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
                raise DataError(
                    f"read_fn: the file of sequence {name!r} for subject "
                    f"{row.get('subject_id', '?')} is missing: {path}; regenerate the cohort "
                    "(data.load) or fix the file_references table",
                    path=path if isinstance(path, (str, os.PathLike)) else None,
                )
        target = row.get(label_key) if mode != "predict" and label_key else None
        is_map = isinstance(target, (str, os.PathLike))
        if is_map:  # a label map: read_subject checks it shares the images' voxel grid
            image, label = io.read_subject({**dict(row), "label": target}, sequences)
            label = label.astype(np.int32)
        else:
            image, label = io.read_subject(row, sequences, with_label=False)
        if params.get("whiten", True):
            image = preprocessing.whiten(image)
        subject = str(row.get("subject_id", ""))
        if mode == "predict":
            yield {"features": {"x": image, "subject_id": subject}}
            continue
        has_target = target is not None and not (isinstance(target, float) and np.isnan(target))
        y = label if is_map else (np.asarray(target, dtype=np.float32) if has_target else None)
        if example_size is None:
            patches, label_patches = image[None], None if label is None else label[None]
        else:
            patches, label_patches = extract_random_example_array(
                image, label if is_map else None, example_size, n_examples, rng,
                where=str(row[sequences[0]]))
        for k in range(len(patches)):
            example = {"features": {"x": patches[k]}}
            if has_target:  # no target given (label=None): features only
                example["labels"] = {"y": label_patches[k] if is_map else y}
            yield example


def generator_dataset(file_references: Any, mode: Any = "train",
                      params: Mapping[str, Any] | None = None, batch_size: int | None = None,
                      repeat: bool = False):
    """``tf.data.Dataset.from_generator`` around :func:`read_fn`: elements ``(x, y)``
    (``x`` alone in predict mode or without a target); one Python thread reads, whitens and
    cuts everything.

    Parameters: ``file_references``, ``mode`` and ``params`` as for :func:`read_fn`;
    ``batch_size`` (None: no batching); ``repeat`` (endless).
    """
    tf = tf_module()
    mode = mode_of(mode)
    rows = rows_of(file_references)
    if not rows:
        raise DataError("generator_dataset: file_references is empty")
    first = next(read_fn(rows[:1], mode, {**dict(params or {}), "n_examples": 1}))
    x0 = first["features"]["x"]
    x_spec = tf.TensorSpec((None, None, None, x0.shape[-1]) if params is None or params.get(
        "example_size") is None else x0.shape, tf.float32)

    with_y = "labels" in first  # not in predict mode, nor without a target column
    if with_y:
        y0 = first["labels"]["y"]
        y_shape = (None, None, None) if y0.ndim == 3 and x_spec.shape[0] is None else y0.shape
        signature = (x_spec, tf.TensorSpec(y_shape, tf.as_dtype(y0.dtype)))
    else:
        signature = x_spec
    guard = Guard([])

    def gen():
        try:
            for ex in read_fn(rows, mode, params):
                yield (ex["features"]["x"], ex["labels"]["y"]) if with_y else ex["features"]["x"]
        except CourseError as exc:  # kept for pipelines.batches, which re-raises it
            guard.error = guard.error or exc
            raise
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    if repeat:
        ds = ds.repeat()
    if batch_size:
        ds = ds.batch(int(batch_size))
    ds.course_guard = guard
    return ds
