"""tf.data input pipelines for 3D volumes (lesson 02): the three classic ways and a fast one.

1. **In memory** (:func:`memory_dataset`): numpy arrays -> ``from_tensor_slices`` (here:
   indices shuffled, volumes gathered from one in-memory tensor).
   Fastest and simplest; the whole database must fit in memory.
2. **TFRecords** (:func:`write_tfrecords`, :func:`tfrecord_dataset`): examples
   serialised once into (sharded) record files, read with
   ``TFRecordDataset(...).map(decode)``. Fast parallel reads, but a second copy
   of the database on disk.
3. **Python generator** (:func:`read_fn`, :func:`generator_dataset`): DLTK's
   ``read_fn(file_references, mode, params)`` reads each file with SimpleITK,
   whitens, adds a channel axis, optionally cuts random patches, and
   ``from_generator`` feeds it. No extra copy, but one Python thread does all.

And the ways to stream from disk fast **without** a second copy
(:func:`nifti_dataset`): read and decode NIfTI files with TensorFlow ops inside
``map(num_parallel_calls=AUTOTUNE)`` (no Python, no GIL: all cores work), whiten
per batch, ``prefetch``; and for patch training, read only each patch's bytes from
uncompressed NIfTI through a numpy memory map (:func:`read_nifti_patch`).

Elements are ``(x, y)`` tuples (``x``: float32 ``[z, y, x, C]``), ready for
``model.fit``; in predict mode only ``x``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import io
from course_utils.errors import ConfigError, DataError, ShapeError
from course_utils.files import atomic_path

PathLike = str | os.PathLike

#: DLTK's modes (``tf.estimator.ModeKeys`` spelled ``infer`` for predict).
MODES = {"train": "train", "eval": "eval", "predict": "predict", "infer": "predict"}

AUTOTUNE = -1  # tf.data.AUTOTUNE


def _tf():
    from course_utils import config

    return config.require_tensorflow()


def _mode(mode: Any) -> str:
    key = str(getattr(mode, "value", mode)).lower()
    if key not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; use one of 'train', 'eval', 'predict'")
    return MODES[key]


def _rows(file_references: Any) -> list[Mapping[str, Any]]:
    if hasattr(file_references, "iterrows"):  # pandas DataFrame
        return [row for _, row in file_references.iterrows()]
    if isinstance(file_references, Mapping):
        return [file_references]
    return list(file_references)


def _patch_corners(shape: Sequence[int], size: Sequence[int], n: int,
                   rng: np.random.Generator) -> np.ndarray:
    return np.stack([rng.integers(0, s - p + 1, int(n)) for s, p in zip(shape, size,
                                                                        strict=True)], axis=1)


def _check_patch(size: Sequence[int], shape: Sequence[int], where: str) -> tuple[int, ...]:
    size = tuple(int(s) for s in np.broadcast_to(np.asarray(size), (3,)))
    if any(p < 1 for p in size) or any(p > s for p, s in zip(size, shape, strict=True)):
        raise ShapeError(
            f"patch size {size} (z, y, x) does not fit the volume {tuple(shape)} of {where}; "
            "use a smaller example_size/patch_size, or pad the volumes "
            "(preprocessing.crop_or_pad)"
        )
    return size


def extract_random_example_array(image: np.ndarray, label: np.ndarray | None,
                                 example_size: Sequence[int], n_examples: int,
                                 rng: np.random.Generator, where: str = "the image"):
    """``n_examples`` random patches ``[n, *example_size, C]`` (and label patches) of a volume."""
    size = _check_patch(example_size, image.shape[:3], where)
    if label is not None:
        from course_utils import sampling

        return sampling.random_patches(image, label, size, n_examples, rng)
    corners = _patch_corners(image.shape[:3], size, n_examples, rng)
    patches = np.stack([image[z:z + size[0], y:y + size[1], x:x + size[2]]
                        for z, y, x in corners])
    return patches, None


# =============================================================================
# 3. The DLTK read_fn and its generator dataset
# =============================================================================


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

    mode = _mode(mode)
    params = dict(params or {})
    sequences = list(params.get("sequences", ["t1"]))
    label_key = params.get("label", "label")
    example_size = params.get("example_size")
    n_examples = int(params.get("n_examples", 1))
    rng = np.random.default_rng(params.get("seed", 42))
    for row in _rows(file_references):
        for name in sequences:
            path = row.get(name) if hasattr(row, "get") else None
            if not isinstance(path, (str, os.PathLike)) or not Path(path).is_file():
                raise DataError(
                    f"read_fn: the file of sequence {name!r} for subject "
                    f"{row.get('subject_id', '?')} is missing: {path}; regenerate the cohort "
                    "(data.load) or fix the file_references table"
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
    cuts everything."""
    tf = _tf()
    mode = _mode(mode)
    rows = _rows(file_references)
    if not rows:
        raise DataError("generator_dataset: file_references is empty")
    first = next(read_fn(rows[:1], mode, {**dict(params or {}), "n_examples": 1}))
    x0 = first["features"]["x"]
    x_spec = tf.TensorSpec((None, None, None, x0.shape[-1]) if params is None or params.get(
        "example_size") is None else x0.shape, tf.float32)

    if "labels" not in first:  # predict mode, or no target column
        def gen():
            for ex in read_fn(rows, mode, params):
                yield ex["features"]["x"]
        signature = x_spec
    else:
        y0 = first["labels"]["y"]
        y_shape = (None, None, None) if y0.ndim == 3 and x_spec.shape[0] is None else y0.shape
        signature = (x_spec, tf.TensorSpec(y_shape, tf.as_dtype(y0.dtype)))

        def gen():
            for ex in read_fn(rows, mode, params):
                yield ex["features"]["x"], ex["labels"]["y"]
    ds = tf.data.Dataset.from_generator(gen, output_signature=signature)
    if repeat:
        ds = ds.repeat()
    if batch_size:
        ds = ds.batch(int(batch_size))
    return ds


# =============================================================================
# 1. In memory
# =============================================================================


def memory_dataset(images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 5,
                   shuffle: bool = True, seed: int = 42, repeat: bool = True,
                   patch_size: Sequence[int] | None = None):
    """Batches from arrays already in memory (``images``: ``[n, z, y, x, C]``); optional random
    crops of ``patch_size`` (same crop for image and label).

    Like ``from_tensor_slices(images).shuffle(n)``, but it shuffles indices and
    gathers, so the shuffle buffer does not hold a second copy of every volume.
    """
    tf = _tf()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., None]
    if images.ndim != 5:
        raise ShapeError(f"memory_dataset needs images [n, z, y, x, C], got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ShapeError(f"{len(images)} images but {len(labels)} labels")
    # One copy in TensorFlow; the stream shuffles indices and gathers, so the shuffle
    # buffer holds numbers, not a second copy of the volumes.
    x_all = tf.constant(images)
    y_all = None if labels is None else tf.constant(np.asarray(labels))
    ds = tf.data.Dataset.range(len(images))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if y_all is None:
        ds = ds.map(lambda i: tf.gather(x_all, i))
    else:
        ds = ds.map(lambda i: (tf.gather(x_all, i), tf.gather(y_all, i)))
    if patch_size is not None:
        size = _check_patch(patch_size, images.shape[1:4], "the in-memory images")
        ds = ds.enumerate().map(_crop_fn(size, seed, images.shape[-1], labels),
                                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


def _crop_fn(size, seed, channels, labels):
    tf = _tf()
    with_label = labels is not None and np.ndim(labels) == 4

    def crop(index, element):
        x, y = (element, None) if labels is None else element
        s = tf.stack([tf.constant(seed, tf.int64), index])
        if with_label:
            both = tf.concat([x, tf.cast(y[..., None], x.dtype)], axis=-1)
            out = tf.image.stateless_random_crop(both, (*size, channels + 1), seed=s)
            return out[..., :channels], tf.cast(out[..., channels], y.dtype)
        out = tf.image.stateless_random_crop(x, (*size, channels), seed=s)
        return out if labels is None else (out, y)
    return crop


# =============================================================================
# 2. TFRecords
# =============================================================================

ENCODINGS = ("bytes", "float_list")


def _feature_list(values: np.ndarray, kind: str):
    tf = _tf()
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.ravel()))
    if kind == "int":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values.ravel()))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[values.tobytes()]))


def serialize_example(image: np.ndarray, label: np.ndarray | float | None = None,
                      encoding: str = "bytes") -> bytes:
    """One ``tf.train.Example``: the image (float32) and label with their shapes.

    ``encoding="float_list"`` stores the image as a float list and an integer label
    as an int64 list (DLTK's way); ``"bytes"`` stores raw little-endian bytes,
    which parse many times faster.
    """
    tf = _tf()
    if encoding not in ENCODINGS:
        raise ConfigError(f"unknown encoding {encoding!r}; use one of {ENCODINGS}")
    image = np.ascontiguousarray(image, dtype="<f4")
    feats = {"image": _feature_list(image, "float" if encoding == "float_list" else "bytes"),
             "image_shape": _feature_list(np.asarray(image.shape, np.int64), "int")}
    if label is not None:
        label = np.asarray(label)
        if encoding == "float_list":
            kind = "int" if np.issubdtype(label.dtype, np.integer) else "float"
        else:
            kind, label = "bytes", label.astype(label.dtype.newbyteorder("<"))
        feats["label"] = _feature_list(np.ascontiguousarray(label), kind)
        feats["label_shape"] = _feature_list(np.asarray(label.shape, np.int64), "int")
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def write_tfrecords(path: PathLike, examples: Iterable[tuple[np.ndarray, Any]],
                    shards: int = 1, encoding: str = "bytes",
                    compression: str | None = None) -> list[Path]:
    """Serialise ``(image, label)`` pairs (label may be None) into ``shards`` record files.

    Example ``k`` goes to shard ``k % shards``: ``<stem>-00000-of-00004.tfrecord``...
    Every shard is written under a temporary name and renamed when complete, and a
    ``<stem>.json`` sidecar records shapes, dtypes, encoding and counts (written
    last, so a sidecar means a complete set). Returns the shard paths.
    """
    tf = _tf()
    path = Path(path)
    stem = path.name.split(".")[0]
    shards = int(shards)
    if shards < 1:
        raise ConfigError(f"shards must be >= 1, got {shards}")
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
        raise DataError(f"write_tfrecords: no examples were given for {path}")
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
    """The sidecar metadata (shapes, dtypes, encoding, shard names) of a record set."""
    side = _sidecar(Path(path))
    if not side.is_file():
        raise DataError(f"no metadata file {side} beside {path}: the record set was not written "
                        "completely; delete its .tfrecord files and write it again")
    return json.loads(side.read_text(encoding="utf-8"))


def _first_record_shapes(file: Path, compression: str) -> tuple[list[int], list[int] | None]:
    tf = _tf()
    try:
        raw = next(iter(tf.data.TFRecordDataset(str(file), compression or "").take(1)))
    except StopIteration:
        raise DataError(f"TFRecord file {file} is empty; delete it and write the set again") \
            from None
    except tf.errors.OpError as exc:
        raise DataError(f"TFRecord file {file} is corrupt ({exc.message[:120]}); delete it and "
                        "write the set again") from exc
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

    ``image_shape`` (if given) is checked against the first record of every shard:
    a mismatch is a ShapeError naming the file.
    """
    tf = _tf()
    paths = [Path(path)] if isinstance(path, (str, os.PathLike)) else [Path(p) for p in path]
    spec = tfrecord_spec(paths[0])
    files = [paths[0].with_name(n) for n in spec["shards"]] if len(paths) == 1 else paths
    expected = list(image_shape) if image_shape is not None else spec["image_shape"]
    for f in files:
        if not f.is_file():
            raise DataError(f"TFRecord shard {f} is missing; write the record set again")
        got, got_label = _first_record_shapes(f, spec["compression"])
        if got != expected or (with_label and got_label != spec["label_shape"]):
            raise ShapeError(
                f"TFRecord file {f} holds images of shape {got} (labels {got_label}) but "
                f"{expected} (labels {spec['label_shape']}) were expected; write the records "
                "again with the current example shape, or pass image_shape= to match them"
            )
    with_label = with_label and spec["label_shape"] is not None
    encoding = spec["encoding"]
    n_image = int(np.prod(expected))
    n_label = int(np.prod(spec["label_shape"])) if with_label else 0
    label_dtype = tf.as_dtype(spec["label_dtype"]) if with_label else None
    description = {"image_shape": tf.io.FixedLenFeature([len(expected)], tf.int64)}
    if encoding == "float_list":
        description["image"] = tf.io.FixedLenFeature([n_image], tf.float32)
    else:
        description["image"] = tf.io.FixedLenFeature([], tf.string)
    if with_label:
        if encoding == "float_list":
            kind = tf.int64 if label_dtype.is_integer else tf.float32
            description["label"] = tf.io.FixedLenFeature([n_label], kind)
        else:
            description["label"] = tf.io.FixedLenFeature([], tf.string)
    names = ", ".join(f.name for f in files[:3]) + (" ..." if len(files) > 3 else "")

    def decode(serialized):
        ex = tf.io.parse_example(serialized, description)
        shape_ok = tf.debugging.assert_equal(
            ex["image_shape"], tf.constant(expected, tf.int64)[None],
            message=f"a record in {names} has another image shape than {expected}; "
                    "write the record set again")
        with tf.control_dependencies([shape_ok]):
            image = (ex["image"] if encoding == "float_list"
                     else tf.io.decode_raw(ex["image"], tf.float32, little_endian=True))
        image = tf.reshape(image, [-1, *expected])
        if not with_label:
            return image
        label = ex["label"]
        if encoding != "float_list":
            label = tf.io.decode_raw(label, label_dtype, little_endian=True)
        label = tf.reshape(tf.cast(label, label_dtype), [-1, *spec["label_shape"]])
        return image, label

    compression = spec["compression"]
    ds = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression),
                       cycle_length=min(len(files), 4), num_parallel_calls=num_parallel_calls,
                       deterministic=True)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size)).map(decode, num_parallel_calls=num_parallel_calls)
    return ds.prefetch(tf.data.AUTOTUNE)


# =============================================================================
# 4. Fast streaming from NIfTI, no second copy
# =============================================================================

_NIFTI_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2",
                 768: "u4"}


def nifti_info(path: PathLike) -> dict[str, Any]:
    """Layout of a NIfTI file from its header (nibabel): ``shape`` (z, y, x), numpy
    ``dtype``, data ``offset`` in bytes, ``slope``/``inter`` scaling, ``compressed``."""
    import nibabel as nib

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file not found: {path}; regenerate it (data.load) or fix the path")
    try:
        # the image's data proxy keeps the file's layout (img.header is reset for writing)
        proxy = nib.load(str(path)).dataobj
        shape, dtype = tuple(int(s) for s in proxy.shape), np.dtype(proxy.dtype)
        offset, slope, inter = int(proxy.offset), float(proxy.slope), float(proxy.inter)
    except Exception as exc:  # nibabel raises several kinds for a bad header
        raise DataError(f"could not read the NIfTI header of {path} ({exc}); delete the file "
                        "and regenerate it") from exc
    if len(shape) != 3:
        raise ShapeError(f"{path} holds a {len(shape)}D image {shape}; streaming expects 3D")
    return {"shape": shape[::-1], "dtype": dtype, "offset": offset,
            "slope": slope if np.isfinite(slope) and slope != 0 else 1.0,
            "inter": inter if np.isfinite(inter) else 0.0,
            "compressed": path.name.lower().endswith(".gz")}


def _common_layout(paths: Sequence[Path], what: str) -> dict[str, Any]:
    layout = None
    for p in paths:
        info = nifti_info(p)
        io._check_nifti_complete(p)  # a truncated file is a DataError now, not garbage later
        key = (info["shape"], info["dtype"], info["compressed"])
        if layout is None:
            layout, first, ref_key = info, p, key
        elif key != ref_key or (info["slope"], info["inter"]) != (layout["slope"],
                                                                   layout["inter"]):
            raise ShapeError(
                f"{what} {p} is {info['shape']} {info['dtype']} (z, y, x) but {first} is "
                f"{layout['shape']} {layout['dtype']}; streaming needs one shape, data type "
                "and compression for all files: load the cohort with standardize=True"
            )
    if layout is None:
        raise DataError(f"no {what} files given")
    return layout


def read_nifti_patch(path: PathLike, corner: Sequence[int], size: Sequence[int],
                     info: Mapping[str, Any] | None = None) -> np.ndarray:
    """Read only a ``size`` (z, y, x) patch at ``corner`` from an UNCOMPRESSED NIfTI file,
    through a numpy memory map at the header's data offset (scaling applied, float32)."""
    info = nifti_info(path) if info is None else info
    if info["compressed"]:
        raise DataError(f"{path} is gzip-compressed: a compressed file cannot be memory-mapped "
                        "(its bytes are not at fixed places); store the volumes as .nii")
    shape = info["shape"]
    size = _check_patch(size, shape, str(path))
    z, y, x = (int(c) for c in corner)
    mm = np.memmap(path, dtype=info["dtype"], mode="r", offset=info["offset"], shape=shape)
    try:
        patch = np.array(mm[z:z + size[0], y:y + size[1], x:x + size[2]], dtype=np.float32)
    finally:
        del mm  # unmap: only the touched pages were ever read
    if info["slope"] != 1.0 or info["inter"] != 0.0:
        patch = patch * np.float32(info["slope"]) + np.float32(info["inter"])
    return patch


def whiten_tf(x, axis=(-4, -3, -2), eps: float = 1e-8):
    """Zero mean, unit variance per example and channel over the spatial axes, in TF ops
    (the in-graph twin of ``preprocessing.whiten``, so whitening runs inside tf.data)."""
    tf = _tf()
    mean, var = tf.nn.moments(x, axes=list(axis), keepdims=True)
    std = tf.sqrt(var)
    return (x - mean) / tf.where(std < eps, tf.ones_like(std), std)


_FUSED: dict[bool, Any] = {}


def _fused_whitener(jit: bool = True):
    """A compiled ``(raw [batch, n], slope, inter, whiten) -> float32 [batch, n]`` function.

    Cast, scaling and whitening (statistics per row) in one XLA-compiled function,
    so they are fused into a few passes over the batch instead of one per TF op.
    Built once, eagerly (not inside a tf.data trace).
    """
    tf = _tf()
    if jit not in _FUSED:
        @tf.function(jit_compile=jit, reduce_retracing=True, autograph=False)
        def fused(v, slope, inter, do_whiten: bool):
            v = tf.cast(v, tf.float32) * slope + inter
            if not do_whiten:
                return v
            mean = tf.reduce_mean(v, axis=1, keepdims=True)
            var = tf.reduce_mean(tf.square(v - mean), axis=1, keepdims=True)
            return (v - mean) * tf.math.rsqrt(tf.maximum(var, 1e-16))
        _FUSED[jit] = fused
    return _FUSED[jit]


def volume_stats(path: PathLike, info: Mapping[str, Any] | None = None,
                 chunk_voxels: int = 1 << 22) -> tuple[float, float]:
    """Mean and standard deviation of a NIfTI volume, streamed in chunks (memory stays flat)."""
    info = nifti_info(path) if info is None else info
    n = int(np.prod(info["shape"]))
    if info["compressed"]:
        import gzip

        with gzip.open(path, "rb") as fh:
            fh.seek(info["offset"])
            flat = np.frombuffer(fh.read(n * info["dtype"].itemsize), info["dtype"])
    else:
        flat = np.memmap(path, dtype=info["dtype"], mode="r", offset=info["offset"], shape=(n,))
    total = squares = 0.0
    for start in range(0, n, chunk_voxels):
        part = np.asarray(flat[start:start + chunk_voxels], dtype=np.float64)
        part = part * info["slope"] + info["inter"]
        total += part.sum()
        squares += np.square(part).sum()
    del flat
    mean = total / n
    return float(mean), float(np.sqrt(max(squares / n - mean**2, 0.0)))


def nifti_dataset(paths: Sequence[PathLike], labels: Sequence[Any] | None = None, *,
                  batch_size: int = 5, shuffle: bool = True, seed: int = 42,
                  repeat: bool = True, whiten: bool = True,
                  patch_size: Sequence[int] | None = None, n_patches: int = 1,
                  num_parallel_calls: int = AUTOTUNE, prefetch: int = AUTOTUNE,
                  jit: bool = True):
    """Stream volumes straight from NIfTI files, in parallel, with no second copy on disk.

    Whole volumes: each file's voxel bytes are read by a
    ``FixedLengthRecordDataset`` (header skipped; gunzipped on the fly for
    .nii.gz) inside ``interleave(num_parallel_calls)``, then a batch at a time
    ``decode_raw`` and one XLA-fused cast + whitening: TensorFlow ops only, no
    Python and no GIL, so every core works. With ``patch_size``: each element
    reads ``n_patches`` random patches of ``patch_size`` (z, y, x) from
    uncompressed .nii through a memory map (:func:`read_nifti_patch`), so only the
    patches' bytes are read; whitening then uses each volume's statistics,
    computed once when the dataset is built (:func:`volume_stats`).
    ``labels``: label-map paths (same grid; uint8) or one number per subject.
    Memory holds a few batches, whatever the number of subjects.
    """
    tf = _tf()
    paths = [Path(p) for p in paths]
    layout = _common_layout(paths, "image")
    shape = layout["shape"]
    if labels is not None and len(labels) != len(paths):
        raise ShapeError(f"{len(paths)} image files but {len(labels)} labels")
    label_maps = labels is not None and all(isinstance(v, (str, os.PathLike)) for v in labels)
    label_layout = None
    if label_maps:
        label_layout = _common_layout([Path(v) for v in labels], "label")
        if label_layout["shape"] != shape:
            raise ShapeError(f"label maps are {label_layout['shape']} (z, y, x) but images are "
                             f"{shape}; they must share one voxel grid")
    size = None if patch_size is None else _check_patch(patch_size, shape, str(paths[0]))
    if size is not None and (layout["compressed"] or (label_maps and label_layout["compressed"])):
        raise DataError(
            f"patch streaming memory-maps uncompressed NIfTI, but {paths[0]} is compressed "
            "(.nii.gz); store the database as .nii (io.write_image(image, 'name.nii')), or "
            "read whole volumes (patch_size=None)"
        )
    parallel = tf.data.AUTOTUNE if num_parallel_calls in (None, AUTOTUNE) else num_parallel_calls
    cycle = 1 if parallel == 1 else max(1, min(len(paths), os.cpu_count() or 2, 4))
    items: dict[str, Any] = {"index": np.arange(len(paths), dtype=np.int64),
                             "image": [str(p) for p in paths],
                             "footer": np.array([_footer(p, layout) for p in paths], np.int64)}
    if label_maps:
        items["label"] = [str(v) for v in labels]
        items["label_footer"] = np.array([_footer(Path(v), label_layout) for v in labels],
                                         np.int64)
    elif labels is not None:
        items["label"] = np.asarray(labels, dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices(items)
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    if size is None:
        fused = _fused_whitener(jit)

        def records(file, footer, info):
            nbytes = int(np.prod(shape)) * info["dtype"].itemsize
            return tf.data.FixedLengthRecordDataset(  # one read call per volume
                file, nbytes, header_bytes=info["offset"], footer_bytes=footer,
                buffer_size=min(nbytes, 1 << 26),
                compression_type="GZIP" if info["compressed"] else None)

        def open_subject(item):
            parts = [records(item["image"], item["footer"], layout)]
            if label_maps:
                parts.append(records(item["label"], item["label_footer"], label_layout))
            elif labels is not None:
                parts.append(tf.data.Dataset.from_tensors(item["label"]))
            return parts[0] if len(parts) == 1 else tf.data.Dataset.zip(tuple(parts))

        def decode(raw, info):
            return tf.io.decode_raw(raw, tf.as_dtype(info["dtype"].newbyteorder("=")),
                                    little_endian=info["dtype"].byteorder != ">")

        def decode_batch(*element):
            flat = decode(element[0], layout)
            x = fused(flat, tf.constant(layout["slope"], tf.float32),
                      tf.constant(layout["inter"], tf.float32), bool(whiten))
            x = tf.reshape(x, (-1, *shape, 1))
            if len(element) == 1:
                return x
            if label_maps:
                y = tf.cast(decode(element[1], label_layout), tf.float32)
                y = y * label_layout["slope"] + label_layout["inter"]
                return x, tf.reshape(tf.cast(tf.round(y), tf.uint8), (-1, *shape))
            return x, element[1]

        ds = ds.interleave(open_subject, cycle_length=cycle, num_parallel_calls=parallel,
                           deterministic=True)
        ds = ds.batch(int(batch_size)).map(decode_batch, num_parallel_calls=parallel)
        return ds.prefetch(prefetch)

    n = int(n_patches)
    stats = np.array([volume_stats(p, layout) if whiten else (0.0, 1.0) for p in paths],
                     dtype=np.float64)
    stats[:, 1] = np.where(stats[:, 1] < 1e-8, 1.0, stats[:, 1])

    def patches(index, counter, image_path, label_path):
        rng = np.random.default_rng([int(seed), int(index), int(counter)])
        corners = _patch_corners(shape, size, n, rng)
        mean, std = stats[int(index)]
        x = np.stack([read_nifti_patch(image_path.decode(), c, size, layout) for c in corners])
        x = ((x - np.float32(mean)) * np.float32(1.0 / std))[..., None]
        if not label_maps:
            return x, np.zeros((n, 1, 1, 1), np.uint8)
        y = np.stack([read_nifti_patch(label_path.decode(), c, size, label_layout)
                      for c in corners])
        return x, np.round(y).astype(np.uint8)

    def load(counter, item):
        label_path = item["label"] if label_maps else tf.constant("")
        x, y = tf.numpy_function(patches, [item["index"], counter, item["image"], label_path],
                                 [tf.float32, tf.uint8], stateful=False)
        x.set_shape((n, *size, 1))
        if labels is None:
            return tf.data.Dataset.from_tensor_slices(x)
        if label_maps:
            y.set_shape((n, *size))
            return tf.data.Dataset.from_tensor_slices((x, y))
        return tf.data.Dataset.from_tensor_slices((x, tf.repeat(item["label"][None], n, axis=0)))

    ds = ds.enumerate().interleave(load, cycle_length=cycle, num_parallel_calls=parallel,
                                   deterministic=True)
    return ds.batch(int(batch_size)).prefetch(prefetch)


def _footer(path: Path, info: Mapping[str, Any]) -> int:
    """Bytes after the voxel data (0 for .nii.gz, whose files end with the data)."""
    if info["compressed"]:
        return 0
    return max(0, path.stat().st_size - info["offset"]
               - int(np.prod(info["shape"])) * info["dtype"].itemsize)


def time_per_batch(dataset, n_batches: int, warmup: int = 1) -> float:
    """Seconds per batch of iterating ``dataset`` (after ``warmup`` batches), a quick gauge."""
    import time

    it = iter(dataset)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(int(n_batches)):
        next(it)
    return (time.perf_counter() - start) / max(1, int(n_batches))


# =============================================================================
# Volumes for the benchmark (lesson 02)
# =============================================================================


def synthetic_volume(shape: Sequence[int], seed: int) -> np.ndarray:
    """An int16 head-like volume ``[z, y, x]``: smooth texture in an ellipsoid, noise, zero
    outside (int16, as scanners store MR)."""
    from scipy import ndimage

    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=[max(2, s // 8) for s in shape])
    texture = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape, strict=True)],
                           order=1)[: shape[0], : shape[1], : shape[2]]
    grid = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij", sparse=True)
    inside = sum(g**2 for g in grid) < 0.8
    vol = np.where(inside, 600 + 150 * texture + rng.normal(0, 20, shape), 0)
    return np.clip(vol, 0, 32000).astype(np.int16)


def write_synthetic_volumes(folder: PathLike, n: int, shape: Sequence[int],
                            spacing: float = 1.0) -> dict[str, list[str]]:
    """Write ``n`` synthetic volumes as ``.nii.gz`` and uncompressed ``.nii`` (kept if already
    there); returns ``{"gz": [...], "nii": [...]}``."""
    import SimpleITK as sitk

    folder = Path(folder)
    out: dict[str, list[str]] = {"gz": [], "nii": []}
    for k in range(int(n)):
        p_gz, p_nii = folder / f"vol{k:04d}.nii.gz", folder / f"vol{k:04d}.nii"
        if not (p_gz.is_file() and p_nii.is_file()):
            img = sitk.GetImageFromArray(synthetic_volume(shape, seed=k))
            img.SetSpacing((float(spacing),) * 3)
            io.write_image(img, p_gz)
            io.write_image(img, p_nii)
        out["gz"].append(str(p_gz))
        out["nii"].append(str(p_nii))
    return out


__all__ = [
    "AUTOTUNE", "MODES", "extract_random_example_array", "generator_dataset", "memory_dataset",
    "nifti_dataset", "nifti_info", "read_fn", "read_nifti_patch", "serialize_example",
    "synthetic_volume", "tfrecord_dataset", "tfrecord_spec", "time_per_batch", "volume_stats",
    "whiten_tf", "write_synthetic_volumes", "write_tfrecords",
]
