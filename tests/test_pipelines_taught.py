"""The pipeline code lesson 02 teaches (TFRecord encode/parse, DLTK's read_fn), run on real
records, real TFRecord files and real NIfTI files written by SimpleITK."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import tensorflow as tf
from _helpers import write_nifti

from course_utils import pipelines, preprocessing
from course_utils.errors import DataError, ShapeError
from course_utils.pipelines.generator import (
    check_files,
    extract_random_example_array,
    read_example,
    read_fn,
)
from course_utils.pipelines.tfrecords import encode_example, parse_example

SHAPE = (6, 7, 8)  # z, y, x
RNG = np.random.default_rng(0)


def _write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


# --------------------------------------------------------------------------- TFRecords
@pytest.mark.parametrize("encoding", ["bytes", "float_list"])
@pytest.mark.parametrize("label", [None, "map", "age"])
def test_encode_then_parse_a_batch_from_a_real_file(tmp_path, encoding, label):
    images = RNG.normal(size=(3, *SHAPE, 1)).astype(np.float32)
    labels = {None: [None] * 3, "age": [np.float32(30.5 + k) for k in range(3)],
              "map": [RNG.integers(0, 4, SHAPE).astype(np.int32) for _ in range(3)]}[label]
    path = _write_records(tmp_path / "set.tfrecord", [
        encode_example(x, y, encoding) for x, y in zip(images, labels, strict=True)])
    label_shape = None if label is None else np.shape(labels[0])
    label_dtype = "int32" if label == "map" else "float32"
    batch = next(iter(tf.data.TFRecordDataset(path).batch(3)))
    out = parse_example(batch, images.shape[1:], label_shape, label_dtype, encoding)
    x = out if label is None else out[0]
    np.testing.assert_array_equal(x.numpy(), images)
    if label is not None:
        assert out[1].dtype == tf.as_dtype(label_dtype)
        np.testing.assert_array_equal(out[1].numpy(), np.stack(labels))


def test_records_are_little_endian_whatever_the_input_byte_order():
    volume = RNG.normal(size=SHAPE).astype(np.float32)
    label = RNG.integers(0, 4, SHAPE).astype(np.int16)
    big = encode_example(volume.astype(">f4"), label.astype(">i2"))
    assert big == encode_example(volume, label)
    image, back = parse_example(tf.constant([big]), SHAPE, SHAPE, "int16")
    np.testing.assert_array_equal(image[0].numpy(), volume)
    np.testing.assert_array_equal(back[0].numpy(), label)


def test_a_float_list_takes_the_same_space_as_raw_bytes():
    # what lesson 02's record-size exercise lets a learner find out
    volume = RNG.normal(size=SHAPE).astype(np.float32)
    raw, lists = (len(encode_example(volume, None, e)) for e in ("bytes", "float_list"))
    assert volume.nbytes < raw and abs(lists - raw) < 0.01 * raw


def test_the_package_reader_parses_with_the_taught_parser(tmp_path):
    images = RNG.normal(size=(4, *SHAPE, 1)).astype(np.float32)
    files = pipelines.write_tfrecords(tmp_path / "a.tfrecord", ((x, None) for x in images))
    ours = next(iter(pipelines.tfrecord_dataset(files[0], batch_size=4, shuffle=False)))
    plain = tf.data.TFRecordDataset([str(f) for f in files]).batch(4)
    taught = parse_example(next(iter(plain)), images.shape[1:])
    np.testing.assert_array_equal(ours.numpy(), taught.numpy())


def test_a_record_of_another_shape_with_the_same_voxel_count_is_refused(tmp_path):
    # (8, 7, 6) holds as many voxels as (6, 7, 8): without the reader's shape check the
    # batch would reshape silently into scrambled volumes
    files = pipelines.write_tfrecords(tmp_path / "s.tfrecord",
                                      ((np.zeros((*SHAPE, 1), np.float32), None) for _ in range(2)))
    _write_records(files[0], [encode_example(np.zeros((*SHAPE, 1), np.float32)),
                              encode_example(np.zeros((*SHAPE[::-1], 1), np.float32))])
    ds = pipelines.tfrecord_dataset(files[0], batch_size=2, shuffle=False, repeat=False)
    with pytest.raises(tf.errors.InvalidArgumentError):
        next(iter(ds))


# --------------------------------------------------------------------------- read_fn
@pytest.fixture
def subjects(tmp_path):
    """Two subjects on real .nii.gz files: t1 = label * 10 (so patches can be matched), age."""
    rows = []
    for k in range(2):
        label = RNG.integers(0, 3, SHAPE).astype(np.uint8)
        rows.append({"subject_id": f"s{k}", "age": 40.0 + k,
                     "t1": write_nifti(label.astype(np.int16) * 10, tmp_path / f"s{k}_t1.nii.gz"),
                     "label": write_nifti(label, tmp_path / f"s{k}_label.nii.gz")})
    return rows


def test_check_files_names_the_missing_file(subjects, tmp_path):
    missing = str(tmp_path / "gone.nii.gz")
    check_files(subjects[0], ["t1"])  # present: nothing happens
    with pytest.raises(DataError) as info:
        check_files({**subjects[0], "t1": missing}, ["t1"])
    assert str(info.value.path) == missing


def test_read_example_reads_each_kind_of_target(subjects):
    row = subjects[0]
    truth = sitk.GetArrayFromImage(sitk.ReadImage(row["label"]))
    image, label = read_example(row, ["t1"], "label")
    assert image.shape == (*SHAPE, 1) and image.dtype == np.float32
    assert label.dtype == np.int32
    np.testing.assert_array_equal(label, truth)
    _, age = read_example(row, ["t1"], "age")
    assert age.dtype == np.float32 and float(age) == 40.0
    assert read_example({**row, "age": float("nan")}, ["t1"], "age")[1] is None
    assert read_example(row, ["t1"], None)[1] is None


def test_read_fn_patches_keep_image_and_label_aligned(subjects):
    params = {"example_size": (3, 4, 4), "n_examples": 5, "whiten": False, "seed": 1}
    examples = list(read_fn(subjects, "train", params))
    assert len(examples) == 10
    for ex in examples:
        x, y = ex["features"]["x"], ex["labels"]["y"]
        assert x.shape == (3, 4, 4, 1) and y.shape == (3, 4, 4)
        np.testing.assert_array_equal(x[..., 0], y * 10.0)


def test_read_fn_patches_are_class_balanced_as_dltk_drew_them(tmp_path):
    """A rare class (8 of 4096 voxels, real .nii.gz files): read_fn's patches hold it about
    as often as each other class (a third of them), uniform corners almost never."""
    from course_utils import sampling

    label = np.zeros((16, 16, 16), np.uint8)
    label[8:, :, :] = 1  # a large structure: half the volume
    label[2:4, 2:4, 2:4] = 2  # a small one: 8 voxels
    row = {"subject_id": "rare", "t1": write_nifti(label.astype(np.int16) * 10, tmp_path / "t1.nii.gz"),
           "label": write_nifti(label, tmp_path / "label.nii.gz")}
    params = {"example_size": (4, 4, 4), "n_examples": 300, "whiten": False, "seed": 3}
    patches = [ex["labels"]["y"] for ex in read_fn([row], "train", params)]
    balanced = np.mean([(y == 2).any() for y in patches])
    _, uniform = sampling.random_patches(label[..., None].astype(np.float32), label, 4, 300,
                                         np.random.default_rng(3))
    uniform = np.mean([(y == 2).any() for y in uniform])
    assert 0.25 < balanced < 0.42  # one class in three, drawn per patch
    assert uniform < 0.05  # 8 of 13**3 corners touch it


def test_read_fn_whole_volumes_whitened_and_predict_mode(subjects):
    first = next(read_fn(subjects, "eval", {"label": "age"}))
    raw = sitk.GetArrayFromImage(sitk.ReadImage(subjects[0]["t1"])).astype(np.float32)
    np.testing.assert_allclose(first["features"]["x"][..., 0], preprocessing.whiten(raw), atol=1e-5)
    assert float(first["labels"]["y"]) == 40.0
    predicted = list(read_fn(subjects, "predict", {}))
    assert [ex["features"]["subject_id"] for ex in predicted] == ["s0", "s1"]
    assert all("labels" not in ex for ex in predicted)
    assert all("labels" not in ex for ex in read_fn(subjects, "train", {"label": None}))


def test_a_patch_larger_than_the_volume_names_the_file(subjects):
    with pytest.raises(ShapeError) as info:
        next(read_fn(subjects, "train", {"example_size": (7, 7, 8)}))
    assert str(info.value.path) == subjects[0]["t1"]
    with pytest.raises(ShapeError):
        extract_random_example_array(np.zeros((*SHAPE, 1)), None, (9, 1, 1), 1,
                                     np.random.default_rng(0))


def test_importing_the_pipelines_does_not_start_tensorflow():
    # the taught TFRecord code uses a module-level `tf`, imported on first use only
    import subprocess
    import sys

    code = ("import sys, course_utils.pipelines as p; assert 'tensorflow' not in sys.modules; "
            "p.tfrecords.encode_example([[1.0]]); assert 'tensorflow' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- the streaming map
@pytest.fixture
def scanner_files(tmp_path):
    """Three int16 volumes with a scale slope and intercept, as scanners store them (nibabel),
    each as .nii and .nii.gz; slabs of a few slices at this size."""
    import nibabel as nib

    out = {"nii": [], "gz": []}
    for k in range(3):
        stored = RNG.integers(-200, 3000, size=(40, 36, 30)).astype(np.int16)  # x, y, z
        img = nib.Nifti1Image(stored, np.eye(4))
        img.header.set_slope_inter(1.5, -10.0)
        for kind, ext in (("nii", ".nii"), ("gz", ".nii.gz")):
            out[kind].append(str(tmp_path / f"v{k}{ext}"))
            nib.save(img, out[kind][-1])
    return out


def _sitk_whitened(path: str) -> np.ndarray:
    """An independent reading: SimpleITK applies the scaling; whitened in float64."""
    x = sitk.GetArrayFromImage(sitk.ReadImage(path, sitk.sitkFloat64))
    return (x - x.mean()) / x.std()


@pytest.mark.parametrize("kind", ["nii", "gz"])
def test_read_scaled_whitens_like_simpleitk_slab_by_slab(scanner_files, kind, monkeypatch):
    from course_utils.pipelines import streaming

    monkeypatch.setattr(streaming, "SLAB_BYTES", 3 * 36 * 40 * 4)  # 3 slices per slab: 10 slabs
    path = scanner_files[kind][1]
    layout = pipelines.nifti_info(path)
    (a, b), = pipelines.whitening_affine([path], layout)
    out = np.full((*layout.shape, 1), np.nan, np.float32)
    assert streaming.read_scaled(path, a, b, layout, out) is out
    np.testing.assert_allclose(out[..., 0], _sitk_whitened(path), atol=1e-5)
    (a, b), = pipelines.whitening_affine([path], layout, whiten=False)
    raw = sitk.GetArrayFromImage(sitk.ReadImage(path, sitk.sitkFloat32))
    np.testing.assert_allclose(streaming.read_scaled(path, a, b, layout, out)[..., 0], raw)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_read_scaled_allocates_no_volume_sized_array(tmp_path, ext):
    """Read into the thread's reused buffer (inflated in bounded chunks), cast and scale in
    place: numpy and zlib allocate far less than a volume once that buffer exists (the
    reader before returned zlib's whole output: a fresh volume, page faults, per file)."""
    import tracemalloc

    from course_utils.pipelines.streaming import read_scaled

    z, y, x = np.meshgrid(*(np.arange(n) for n in (64, 128, 160)), indexing="ij")
    paths = [write_nifti(((z + y + x + k) % 50).astype(np.int16), tmp_path / f"c{k}{ext}")
             for k in range(2)]  # 2.5 MB of voxels each, a few kB compressed
    layout = pipelines.nifti_info(paths[0])
    out = np.empty((*layout.shape, 1), np.float32)
    read_scaled(paths[0], 1.0, 0.0, layout, out)  # the thread's buffer is made here
    tracemalloc.start()
    read_scaled(paths[1], 2.0, 1.0, layout, out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < layout.nbytes / 4, peak
    np.testing.assert_array_equal(out[..., 0], 2.0 * ((z + y + x + 1) % 50) + 1.0)


def test_the_taught_map_gives_static_shapes_and_the_package_stream(scanner_files):
    from course_utils.pipelines.streaming import volume_map

    files = scanner_files["nii"]
    layout = pipelines.nifti_info(files[0])
    affine = pipelines.whitening_affine(files, layout)
    ds = (tf.data.Dataset.from_tensor_slices((files, affine[:, 0], affine[:, 1]))
          .batch(3).map(volume_map(layout), num_parallel_calls=2))
    assert ds.element_spec.shape.as_list() == [None, *layout.shape, 1]  # ensure_shape did it
    by_hand = next(iter(ds)).numpy()
    package = next(iter(pipelines.nifti_dataset(files, batch_size=3, shuffle=False))).numpy()
    np.testing.assert_array_equal(by_hand, package)
    for k, path in enumerate(files):
        np.testing.assert_allclose(by_hand[k, ..., 0], _sitk_whitened(path), atol=1e-5)


def test_lesson_02_teaches_the_streaming_map():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import taught

    names = {f"{t.module}.{t.name}" for t in taught.taught() if t.notebook.startswith("02")}
    assert {"course_utils.pipelines.streaming.read_scaled",
            "course_utils.pipelines.streaming.volume_map"} <= names


def test_memory_growth_sees_what_work_holds():
    held = []
    grown = pipelines.memory_growth(lambda: held.append(np.ones(64 * 2**20, np.uint8)))
    assert grown > 60, grown  # 64 MB written, so resident
    held.clear()
    assert pipelines.memory_growth(lambda: None) < 10
