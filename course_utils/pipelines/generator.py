"""Method 3: DLTK's ``read_fn`` generator and its ``from_generator`` dataset (lesson 02).

``check_files``, ``read_example``, ``extract_random_example_array`` and ``read_fn`` are
taught in notebook 02 (tools/taught.py keeps them identical); ``generator_dataset``
wraps them in ``tf.data.Dataset.from_generator`` with the error plumbing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import io, preprocessing, sampling
from course_utils.errors import CourseError, DataError
from course_utils.pipelines._common import check_patch, mode_of, patch_corners, rows_of, tf_module
from course_utils.pipelines.streaming import Guard


def check_files(row: Mapping[str, Any], sequences: Sequence[str]) -> None:
    """Raise a DataError naming the subject and file if a sequence's file is missing.

    Parameters: ``row``: one subject's file references; ``sequences``: its image columns.
    """
    for name in sequences:
        path = row.get(name)
        if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
            raise DataError(
                f"read_fn: the file of sequence {name!r} for subject {row.get('subject_id', '?')} "
                f"is missing: {path}; regenerate the cohort (data.load) or fix the file_references "
                "table", path=path if isinstance(path, (str, os.PathLike)) else None)


def read_example(row: Mapping[str, Any], sequences: Sequence[str], target: str | None):
    """One subject: the image ``[z, y, x, C]`` (float32) and its target, a label map (int32),
    a number (float32) or None.

    Parameters: ``row``: one subject's file references; ``sequences``: the image columns;
    ``target``: the target's column (a label-map path or a number; None: no target).
    """
    value = row.get(target) if target else None
    if isinstance(value, (str, os.PathLike)):  # a label map, on the image's voxel grid
        image, label = io.read_subject({**row, "label": value}, sequences)
        return image, label.astype(np.int32)
    image, _ = io.read_subject(row, sequences, with_label=False)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return image, None
    return image, np.asarray(value, dtype=np.float32)


def extract_random_example_array(image: np.ndarray, label: np.ndarray | None,
                                 example_size: Sequence[int], n_examples: int,
                                 rng: np.random.Generator, where: str = "the image"):
    """``n_examples`` random patches ``[n, *example_size, C]`` of a volume (and of its label map).

    Parameters: ``image``: ``[z, y, x, C]``; ``label``: a label map ``[z, y, x]`` (each
    patch then holds a voxel of a class drawn at random, every class equally likely) or
    None; ``example_size``: (z, y, x); ``n_examples``: patches; ``rng``: a numpy
    Generator; ``where``: the image's name in errors.
    """
    size = check_patch(example_size, image.shape[:3], where)
    if label is not None:
        return sampling.balanced_patches(image, label, size, n_examples, rng)
    corners = patch_corners(image.shape[:3], size, n_examples, rng)
    patches = np.stack([image[z:z + size[0], y:y + size[1], x:x + size[2]]
                        for z, y, x in corners])
    return patches, None


def read_fn(file_references: Any, mode: Any, params: Mapping[str, Any] | None = None
            ) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """DLTK's reader: for each subject yield ``{'features': {'x': ...}, 'labels': {'y': ...}}``.

    Parameters: ``file_references``: cohort rows (a DataFrame, or dicts with one path column
    per sequence and a target column); ``mode``: "train", "eval" or "predict" (whole
    volumes, features and ``subject_id`` only); ``params``: ``sequences`` (default
    ``["t1"]``), ``label`` (the target's column: a label-map path such as "label" or a
    number such as "age"; None: no target), ``whiten`` (default True), ``example_size``
    ((z, y, x) of random patches; None: whole volumes), ``n_examples`` (patches per
    subject), ``seed``.
    """
    mode, params = mode_of(mode), dict(params or {})
    sequences = list(params.get("sequences", ["t1"]))
    target = None if mode == "predict" else params.get("label", "label")
    rng = np.random.default_rng(params.get("seed", 42))
    for row in rows_of(file_references):
        check_files(row, sequences)
        image, y = read_example(row, sequences, target)
        if params.get("whiten", True):
            image = preprocessing.whiten(image)
        if mode == "predict":
            yield {"features": {"x": image, "subject_id": str(row.get("subject_id", ""))}}
            continue
        label_map = y if y is not None and y.ndim == 3 else None
        if params.get("example_size") is None:  # the whole volume is one example
            xs, ys = image[None], None if label_map is None else label_map[None]
        else:
            xs, ys = extract_random_example_array(
                image, label_map, params["example_size"], int(params.get("n_examples", 1)),
                rng, where=str(row[sequences[0]]))
        for k, x in enumerate(xs):
            if y is None:  # no target: features only
                yield {"features": {"x": x}}
            else:
                yield {"features": {"x": x}, "labels": {"y": y if ys is None else ys[k]}}


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
