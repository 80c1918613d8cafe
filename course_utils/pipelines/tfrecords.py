"""Method 2: TFRecords, written atomically in shards and read back in parallel (lesson 02).

``to_feature``, ``encode_example`` and ``parse_example`` are taught in notebook 02
(tools/taught.py keeps them identical); the writer and reader around them are plumbing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.errors import DataError, ShapeError
from course_utils.files import atomic_path
from course_utils.pipelines._common import AUTOTUNE, PathLike, order, tf, tf_module

ENCODINGS: tuple[str, ...] = ("bytes", "float_list")


def to_feature(values: np.ndarray, kind: str):
    """One array as a ``tf.train.Feature``: a float or int64 list (DLTK's way) or its raw bytes.

    Parameters: ``values``: the array; ``kind``: "float", "int" or "bytes".
    """
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.ravel()))
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values.ravel()))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[values.tobytes()]))


def encode_example(image: np.ndarray, label: np.ndarray | float | None = None,
                   encoding: str = "bytes") -> bytes:
    """One serialised ``tf.train.Example``: the image (float32) and its label, each with its shape.

    Parameters: ``image``: an array; ``label``: an array, a number or None (no label);
    ``encoding``: "bytes" (raw little-endian bytes) or "float_list" (DLTK's lists).
    """
    image = np.ascontiguousarray(image, dtype="<f4")  # little-endian float32 on every machine
    features = {"image": to_feature(image, "float" if encoding == "float_list" else "bytes"),
                "image_shape": to_feature(np.array(image.shape), "int")}
    if label is not None:
        label = np.asarray(label)
        if encoding == "float_list":
            kind = "int" if np.issubdtype(label.dtype, np.integer) else "float"
        else:
            kind, label = "bytes", label.astype(label.dtype.newbyteorder("<"))
        features["label"] = to_feature(np.ascontiguousarray(label), kind)
        features["label_shape"] = to_feature(np.array(label.shape), "int")
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def parse_example(serialized, image_shape: Sequence[int], label_shape: Sequence[int] | None = None,
                  label_dtype: Any = "int32", encoding: str = "bytes"):
    """A batch of serialised examples back to images ``[n, *image_shape]`` (and labels).

    Parameters: ``serialized``: a 1D string tensor of records; ``image_shape``: the shape
    of one image; ``label_shape``: the shape of one label (None: images only);
    ``label_dtype``: the labels' dtype; ``encoding``: the one they were written with.
    """
    lists = encoding == "float_list"
    wanted = {"image": (tf.io.FixedLenFeature([int(np.prod(image_shape))], tf.float32) if lists
                        else tf.io.FixedLenFeature([], tf.string))}
    if label_shape is not None:
        label_dtype = tf.as_dtype(label_dtype)
        kind = tf.int64 if label_dtype.is_integer else tf.float32
        wanted["label"] = (tf.io.FixedLenFeature([int(np.prod(label_shape))], kind) if lists
                           else tf.io.FixedLenFeature([], tf.string))
    example = tf.io.parse_example(serialized, wanted)
    image = example["image"] if lists else tf.io.decode_raw(example["image"], tf.float32)
    image = tf.reshape(image, [-1, *image_shape])
    if label_shape is None:
        return image
    label = example["label"] if lists else tf.io.decode_raw(example["label"], label_dtype)
    return image, tf.reshape(tf.cast(label, label_dtype), [-1, *label_shape])


def serialize_example(image: np.ndarray, label: np.ndarray | float | None = None,
                      encoding: str = "bytes") -> bytes:
    """:func:`encode_example` after checking ``encoding`` (a ConfigError names the valid ones).

    Parameters: ``image``; ``label`` (None: none); ``encoding`` one of :data:`ENCODINGS`.
    """
    checks.option(encoding, ENCODINGS, name="encoding")
    return encode_example(image, label, encoding)


def write_tfrecords(path: PathLike, examples: Iterable[tuple[np.ndarray, Any]],
                    shards: int = 1, encoding: str = "bytes",
                    compression: str | None = None) -> list[Path]:
    """Serialise ``(image, label)`` pairs (label may be None) into ``shards`` record files.

    Example ``k`` goes to shard ``k % shards``: ``<stem>-00000-of-00004.tfrecord``...
    Every shard is written under a temporary name and renamed when complete, and a
    ``<stem>.json`` sidecar records shapes, dtypes, encoding and counts (written
    last, so a sidecar means a complete set). Returns the shard paths.

    Parameters: ``path`` the set's name (``<stem>.tfrecord``); ``examples`` ``(image,
    label)`` pairs of one shape; ``shards`` files; ``encoding`` one of :data:`ENCODINGS`;
    ``compression`` None, ``"GZIP"`` or ``"ZLIB"``.
    """
    tf = tf_module()
    path = Path(path)
    stem = path.name.split(".")[0]
    shards = checks.integer(shards, name="shards", minimum=1)
    names = ([path.with_name(f"{stem}.tfrecord")] if shards == 1 else
             [path.with_name(f"{stem}-{i:05d}-of-{shards:05d}.tfrecord") for i in range(shards)])
    options = tf.io.TFRecordOptions(compression_type=compression or "")
    spec: dict[str, Any] = {}
    counts = [0] * shards
    with _AtomicShards(names) as tmps:
        writers = [tf.io.TFRecordWriter(str(t), options) for t in tmps]
        try:
            for k, (image, label) in enumerate(examples):
                image = np.asarray(image)
                this = {"image_shape": list(image.shape),
                        "label_shape": None if label is None else list(np.shape(label)),
                        "label_dtype": None if label is None else np.asarray(label).dtype.name}
                if not spec:
                    spec = this
                elif this != spec:
                    raise ShapeError(
                        f"example {k} for {path} has image shape {this['image_shape']} / label "
                        f"{this['label_shape']} {this['label_dtype']}, the first had "
                        f"{spec['image_shape']} / {spec['label_shape']} {spec['label_dtype']}; "
                        "every example in a record set must have one shape (crop or pad first)"
                    )
                writers[k % shards].write(serialize_example(image, label, encoding))
                counts[k % shards] += 1
        finally:
            for w in writers:
                w.close()
    if not spec:
        raise DataError(f"write_tfrecords: no examples were given for {path}", path=path)
    meta = {**spec, "image_dtype": "float32", "encoding": encoding,
            "compression": compression or "", "shards": [n.name for n in names],
            "counts": counts}
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return names


class _AtomicShards:
    """Enter several atomic_path contexts at once (all renamed, or none kept)."""

    def __init__(self, paths: Sequence[Path]):
        self._contexts = [atomic_path(p) for p in paths]

    def __enter__(self) -> list[Path]:
        return [c.__enter__() for c in self._contexts]

    def __exit__(self, *exc) -> bool:
        for c in self._contexts:
            c.__exit__(*exc)
        return False


def _sidecar(path: Path) -> Path:
    stem = re.sub(r"-\d{5}-of-\d{5}$", "", path.name.split(".")[0])
    return path.with_name(stem + ".json")


def tfrecord_spec(path: PathLike) -> dict[str, Any]:
    """The sidecar metadata (shapes, dtypes, encoding, shard names) of a record set.

    Parameters: ``path`` any shard (or the sidecar) of the set.
    """
    side = _sidecar(Path(path))
    if not side.is_file():
        raise DataError(f"no metadata file {side} beside {path}: the record set was not written "
                        "completely; delete its .tfrecord files and write it again", path=side)
    return json.loads(side.read_text(encoding="utf-8"))


def _first_record_shapes(file: Path, compression: str) -> tuple[list[int], list[int] | None]:
    tf = tf_module()
    try:
        raw = next(iter(tf.data.TFRecordDataset(str(file), compression or "").take(1)))
    except StopIteration:
        raise DataError(f"TFRecord file {file} is empty; delete it and write the set again",
                        path=file) from None
    except tf.errors.OpError as exc:
        raise DataError(f"TFRecord file {file} is corrupt ({exc.message[:120]}); delete it and "
                        "write the set again", path=file) from exc
    feats = tf.train.Example.FromString(raw.numpy()).features.feature
    image_shape = list(feats["image_shape"].int64_list.value)
    label_shape = list(feats["label_shape"].int64_list.value) if "label_shape" in feats else None
    return image_shape, label_shape


def tfrecord_dataset(path: PathLike | Sequence[PathLike], batch_size: int = 5,
                     shuffle: bool = True, seed: int = 42, repeat: bool = True,
                     shuffle_buffer: int = 16, image_shape: Sequence[int] | None = None,
                     with_label: bool = True, num_parallel_calls: int = AUTOTUNE):
    """``TFRecordDataset`` over a record set (any of its shards, or a list of them), parsed
    a batch at a time with parallel ``map``; shards are read with ``interleave``.

    Parameters: ``path`` one shard (its set is found from the sidecar) or a list of
    shards; ``batch_size``; ``shuffle`` (shards, then a ``shuffle_buffer`` of records);
    ``seed``; ``repeat``; ``image_shape`` (if given) is checked against the first record
    of every shard, a mismatch is a ShapeError naming the file; ``with_label`` (False:
    images only); ``num_parallel_calls`` of the reads and parsing.
    """
    tf = tf_module()
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    spec = tfrecord_spec(paths[0])
    files = [paths[0].with_name(n) for n in spec["shards"]] if len(paths) == 1 else paths
    expected = list(image_shape) if image_shape is not None else spec["image_shape"]
    for f in files:
        if not f.is_file():
            raise DataError(f"TFRecord shard {f} is missing; write the record set again", path=f)
        got, got_label = _first_record_shapes(f, spec["compression"])
        if got != expected or (with_label and got_label != spec["label_shape"]):
            raise ShapeError(
                f"TFRecord file {f} holds images of shape {got} (labels {got_label}) but "
                f"{expected} (labels {spec['label_shape']}) were expected; write the records "
                "again with the current example shape, or pass image_shape= to match them",
                path=f,
            )
    decode = _decoder(spec, expected, with_label and spec["label_shape"] is not None,
                      ", ".join(f.name for f in files[:3]) + (" ..." if len(files) > 3 else ""))
    ds = order(tf.data.Dataset.from_tensor_slices([str(f) for f in files]), len(files),
               shuffle, seed, repeat)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, spec["compression"]),
                       cycle_length=min(len(files), 4), num_parallel_calls=num_parallel_calls,
                       deterministic=True)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size)).map(decode, num_parallel_calls=num_parallel_calls)
    return ds.prefetch(tf.data.AUTOTUNE)


def _decoder(spec: dict[str, Any], expected: list[int], with_label: bool, names: str):
    """The batch parser of a record set: every record's stored shape checked, then
    :func:`parse_example`."""
    shapes = {"image_shape": tf.io.FixedLenFeature([len(expected)], tf.int64)}
    label_shape = spec["label_shape"] if with_label else None

    def decode(serialized):
        stored = tf.io.parse_example(serialized, shapes)["image_shape"]  # skips the voxels
        shape_ok = tf.debugging.assert_equal(
            stored, tf.constant(expected, tf.int64)[None],
            message=f"a record in {names} has another image shape than {expected}; "
                    "write the record set again")
        with tf.control_dependencies([shape_ok]):
            serialized = tf.identity(serialized)
        return parse_example(serialized, expected, label_shape, spec["label_dtype"],
                             spec["encoding"])
    return decode
