"""course_utils.pipelines: the DLTK read_fn, in-memory, TFRecord and streaming datasets."""

from __future__ import annotations

import tracemalloc
from functools import partial

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tensorflow as tf
from _helpers import write_nifti

from course_utils import pipelines, preprocessing
from course_utils.errors import DataError, ShapeError

SHAPE = (12, 14, 10)  # z, y, x
_write = partial(write_nifti, spacing=(1.0, 1.2, 2.0))


def _coded(k: int = 0) -> np.ndarray:
    """Subject k's volume, whose values tell where they are: k*1e6 + z*1e4 + y*100 + x."""
    z, y, x = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    return (k * 1_000_000 + z * 10000 + y * 100 + x).astype(np.float32)  # exact in float32


def _locate(value: float) -> tuple[int, int, int, int]:
    """(subject, z, y, x) of a value of :func:`_coded`."""
    v = int(round(float(value)))
    return v // 1_000_000, v // 10000 % 100, v // 100 % 100, v % 100


def _label_of(volume: np.ndarray) -> np.ndarray:
    return (np.round(volume).astype(np.int64) % 5).astype(np.uint8)


@pytest.fixture
def cohort(tmp_path):
    """Three subjects: t1 (coded), t1_ir (random), label (from t1), age; .nii.gz files."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(3):
        t1 = _coded(k)
        rows.append({
            "subject_id": f"sub-{k}",
            "t1": _write(t1, tmp_path / f"s{k}_t1.nii.gz"),
            "t1_ir": _write(rng.normal(50, 7, SHAPE).astype(np.float32),
                            tmp_path / f"s{k}_ir.nii.gz"),
            "label": _write(_label_of(t1), tmp_path / f"s{k}_label.nii.gz"),
            "age": 30.0 + k,
        })
    return rows


def _array(path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _whitened(raw: np.ndarray) -> np.ndarray:
    return (raw - raw.mean(dtype=np.float64)) / raw.std(dtype=np.float64)


# --------------------------------------------------------------------------- read_fn
def test_read_fn_whole_volumes(cohort):
    out = list(pipelines.read_fn(cohort, "train", {"sequences": ["t1", "t1_ir"]}))
    assert len(out) == 3
    for row, ex in zip(cohort, out, strict=True):
        x, y = ex["features"]["x"], ex["labels"]["y"]
        assert x.shape == (*SHAPE, 2) and x.dtype == np.float32
        for c, seq in enumerate(["t1", "t1_ir"]):
            np.testing.assert_allclose(x[..., c], _whitened(_array(row[seq])), atol=1e-4)
        np.testing.assert_array_equal(y, _array(row["label"]))


def test_read_fn_predict_yields_features_only(cohort):
    out = list(pipelines.read_fn(cohort, "predict", {"example_size": (4, 4, 4)}))
    assert len(out) == 3 and all(set(ex) == {"features"} for ex in out)
    assert out[0]["features"]["x"].shape == (*SHAPE, 1)  # whole volumes in predict mode
    assert out[1]["features"]["subject_id"] == "sub-1"


def test_read_fn_random_patches_match_labels(cohort):
    params = {"example_size": (4, 5, 6), "n_examples": 4, "whiten": False, "seed": 3}
    out = list(pipelines.read_fn(cohort, "train", params))
    assert len(out) == 12
    for ex in out:
        x, y = ex["features"]["x"][..., 0], ex["labels"]["y"]
        assert x.shape == (4, 5, 6) and y.shape == (4, 5, 6)
        np.testing.assert_array_equal(y, _label_of(x))  # cut at the same place
        k, z, yy, xx = _locate(x.flat[0])
        np.testing.assert_array_equal(x, _coded(k)[z:z + 4, yy:yy + 5, xx:xx + 6])
    again = list(pipelines.read_fn(cohort, "train", params))
    np.testing.assert_array_equal(out[5]["features"]["x"], again[5]["features"]["x"])


def test_read_fn_scalar_target(cohort):
    out = list(pipelines.read_fn(cohort, "eval", {"label": "age"}))
    assert [float(ex["labels"]["y"]) for ex in out] == [30.0, 31.0, 32.0]


def test_read_fn_bad_input(cohort, tmp_path):
    cohort[1]["t1"] = str(tmp_path / "gone_t1.nii.gz")
    with pytest.raises(DataError, match="gone_t1.nii.gz"):
        list(pipelines.read_fn(cohort, "train", {}))
    with pytest.raises(ShapeError, match=r"\(20, 4, 4\).*\(12, 14, 10\).*s0_t1.nii.gz"):
        list(pipelines.read_fn(cohort[:1], "train", {"example_size": (20, 4, 4)}))


def test_generator_dataset(cohort):
    ds = pipelines.generator_dataset(cohort, "train", {"example_size": (4, 4, 4),
                                                       "n_examples": 2}, batch_size=3)
    x, y = next(iter(ds))
    assert x.shape == (3, 4, 4, 4, 1) and x.dtype == tf.float32
    assert y.shape == (3, 4, 4, 4) and y.dtype == tf.int32
    assert sum(1 for _ in ds.unbatch()) == 6
    xs = list(pipelines.generator_dataset(cohort, "predict", {}, batch_size=2))
    assert [tuple(b.shape) for b in xs] == [(2, *SHAPE, 1), (1, *SHAPE, 1)]


# --------------------------------------------------------------------------- in memory
def test_memory_dataset_crops_image_and_label_together():
    images = np.stack([_coded(k) for k in range(4)])[..., None]
    labels = np.stack([_label_of(v) for v in images[..., 0]])
    ds = pipelines.memory_dataset(images, labels, batch_size=3, patch_size=(4, 5, 6))
    for x, y in ds.take(3):
        assert x.shape == (3, 4, 5, 6, 1) and y.shape == (3, 4, 5, 6) and y.dtype == tf.uint8
        np.testing.assert_array_equal(y.numpy(), _label_of(x.numpy()[..., 0]))
    whole = pipelines.memory_dataset(images, batch_size=2, shuffle=False, repeat=False)
    batches = [b.numpy() for b in whole]
    np.testing.assert_array_equal(np.concatenate(batches), images)
    with pytest.raises(ShapeError, match="does not fit"):
        pipelines.memory_dataset(images, patch_size=(40, 4, 4))


# --------------------------------------------------------------------------- TFRecords
@pytest.mark.parametrize("encoding", pipelines.ENCODINGS)
def test_tfrecord_roundtrip_sharded(tmp_path, encoding):
    rng = np.random.default_rng(1)
    images = rng.normal(size=(7, 6, 5, 4, 2)).astype(np.float32)
    labels = rng.integers(0, 5, size=(7, 6, 5, 4)).astype(np.uint8)
    files = pipelines.write_tfrecords(tmp_path / "train.tfrecord", zip(images, labels, strict=True),
                                      shards=3, encoding=encoding)
    assert [f.name for f in files] == [f"train-{i:05d}-of-00003.tfrecord" for i in range(3)]
    assert pipelines.tfrecord_spec(files[0])["counts"] == [3, 2, 2]
    assert not list(tmp_path.glob("*partial*"))
    ds = pipelines.tfrecord_dataset(files[1], batch_size=2, shuffle=False, repeat=False)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds], strict=True)
    x, y = np.concatenate(xs), np.concatenate(ys)
    # round-robin shards read back by interleave come out in the original order
    assert x.dtype == np.float32 and y.dtype == np.uint8
    assert x.shape == images.shape and y.shape == labels.shape
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    shuffled = pipelines.tfrecord_dataset(files[0], batch_size=7, shuffle=True, repeat=False)
    x, _ = next(iter(shuffled))
    assert sorted(map(float, x.numpy()[:, 0, 0, 0, 0])) == sorted(map(float, images[:, 0, 0, 0, 0]))


def test_tfrecord_scalar_labels_and_no_labels(tmp_path):
    images = np.arange(2 * 3 * 3 * 3, dtype=np.float32).reshape(2, 3, 3, 3, 1)
    ages = np.array([31.5, 62.25], dtype=np.float32)
    files = pipelines.write_tfrecords(tmp_path / "ages.tfrecord", zip(images, ages, strict=True),
                                      encoding="float_list")
    x, y = next(iter(pipelines.tfrecord_dataset(files[0], batch_size=2, shuffle=False)))
    np.testing.assert_array_equal(y.numpy(), ages)
    assert y.dtype == tf.float32
    files = pipelines.write_tfrecords(tmp_path / "x.tfrecord", ((im, None) for im in images))
    x = next(iter(pipelines.tfrecord_dataset(files[0], batch_size=2, shuffle=False)))
    np.testing.assert_array_equal(x.numpy(), images)


def test_tfrecord_wrong_feature_shape_names_file(tmp_path):
    images = np.zeros((4, 3, 3, 3, 1), np.float32)
    files = pipelines.write_tfrecords(tmp_path / "set.tfrecord", ((im, None) for im in images),
                                      shards=2)
    with pytest.raises(ShapeError, match=r"set-00000-of-00002.tfrecord.*\[3, 3, 3, 1\]"):
        pipelines.tfrecord_dataset(files[0], image_shape=(4, 4, 4, 1))
    # a shard replaced by one written with another example shape
    other = pipelines.write_tfrecords(tmp_path / "other" / "set.tfrecord",
                                      ((np.zeros((2, 2, 2, 1), np.float32), None),) * 2, shards=2)
    other[1].replace(files[1])
    with pytest.raises(ShapeError, match=r"set-00001-of-00002.tfrecord holds images of shape "
                                         r"\[2, 2, 2, 1\]"):
        pipelines.tfrecord_dataset(files[0])


def test_tfrecord_writes_nothing_on_failure(tmp_path):
    def examples():
        yield np.zeros((2, 2, 2, 1), np.float32), None
        yield np.zeros((3, 2, 2, 1), np.float32), None  # another shape

    with pytest.raises(ShapeError, match="one shape"):
        pipelines.write_tfrecords(tmp_path / "bad.tfrecord", examples(), shards=2)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="metadata"):
        pipelines.tfrecord_spec(tmp_path / "bad.tfrecord")


# --------------------------------------------------------------------------- streaming
@pytest.fixture
def nifti_files(tmp_path):
    """int16 volumes with a scale slope (as scanners store them), .nii and .nii.gz."""
    rng = np.random.default_rng(2)
    out = {"nii": [], "gz": [], "label": [], "raw": []}
    for k in range(4):
        stored = rng.integers(0, 3000, size=SHAPE[::-1]).astype(np.int16)  # nibabel: x, y, z
        img = nib.Nifti1Image(stored, np.diag([1.0, 1.2, 2.0, 1.0]))
        img.header.set_slope_inter(0.5, 10.0)
        for kind, ext in (("nii", ".nii"), ("gz", ".nii.gz")):
            path = tmp_path / f"v{k}{ext}"
            nib.save(img, str(path))
            out[kind].append(str(path))
        coded = _coded(k)
        out["label"].append(_write(_label_of(coded), tmp_path / f"l{k}.nii"))
        out["raw"].append(_write(coded, tmp_path / f"c{k}.nii"))
    return out


@pytest.mark.parametrize("kind", ["nii", "gz"])
def test_nifti_dataset_equals_simpleitk_reading(nifti_files, kind):
    files = nifti_files[kind]
    ds = pipelines.nifti_dataset(files, batch_size=2, shuffle=False, repeat=False)
    x = np.concatenate([b.numpy() for b in ds])
    assert x.shape == (4, *SHAPE, 1) and x.dtype == np.float32
    for k, path in enumerate(files):
        ref = sitk.GetArrayFromImage(sitk.ReadImage(path, sitk.sitkFloat32))  # slope applied
        np.testing.assert_allclose(x[k, ..., 0], preprocessing.whiten(ref), atol=1e-4)
    raw = pipelines.nifti_dataset(files, batch_size=4, shuffle=False, whiten=False)
    np.testing.assert_allclose(next(iter(raw)).numpy()[2, ..., 0],
                               _array(files[2]).astype(np.float32), atol=1e-3)


def test_nifti_dataset_labels(nifti_files):
    ds = pipelines.nifti_dataset(nifti_files["raw"], nifti_files["label"], batch_size=4,
                                 shuffle=False, whiten=False)
    x, y = next(iter(ds))
    assert y.dtype == tf.uint8 and y.shape == (4, *SHAPE)
    np.testing.assert_array_equal(y.numpy(), _label_of(x.numpy()[..., 0]))
    ages = [20.0, 30.0, 40.0, 50.0]
    _, y = next(iter(pipelines.nifti_dataset(nifti_files["nii"], ages, batch_size=4,
                                             shuffle=False)))
    np.testing.assert_array_equal(y.numpy(), ages)


def test_memmap_patches_are_the_right_voxels(nifti_files):
    ds = pipelines.nifti_dataset(nifti_files["raw"], nifti_files["label"], batch_size=6,
                                 patch_size=(4, 5, 6), n_patches=3, whiten=False, seed=7)
    x, y = next(iter(ds))
    assert x.shape == (6, 4, 5, 6, 1) and y.shape == (6, 4, 5, 6)
    for patch, lab in zip(x.numpy()[..., 0], y.numpy(), strict=True):
        k, z, yy, xx = _locate(patch.flat[0])
        np.testing.assert_array_equal(patch, _coded(k)[z:z + 4, yy:yy + 5, xx:xx + 6])
        np.testing.assert_array_equal(lab, _label_of(patch))
    again = next(iter(pipelines.nifti_dataset(nifti_files["raw"], nifti_files["label"],
                                              batch_size=6, patch_size=(4, 5, 6), n_patches=3,
                                              whiten=False, seed=7)))
    np.testing.assert_array_equal(again[0].numpy(), x.numpy())


def test_read_nifti_patch_applies_scaling(nifti_files):
    path = nifti_files["nii"][1]
    ref = sitk.GetArrayFromImage(sitk.ReadImage(path, sitk.sitkFloat32))
    patch = pipelines.read_nifti_patch(path, (2, 3, 4), (5, 6, 3))
    np.testing.assert_allclose(patch, ref[2:7, 3:9, 4:7])
    with pytest.raises(DataError, match="compressed"):
        pipelines.read_nifti_patch(nifti_files["gz"][1], (0, 0, 0), (2, 2, 2))
    with pytest.raises(ShapeError, match=r"\(50, 2, 2\)"):
        pipelines.read_nifti_patch(path, (0, 0, 0), (50, 2, 2))


def test_nifti_dataset_bad_input(nifti_files, tmp_path):
    odd = _write(np.zeros((5, 5, 5), np.int16), tmp_path / "odd.nii")
    with pytest.raises(ShapeError, match="odd.nii"):
        pipelines.nifti_dataset([*nifti_files["nii"], odd])
    cut = tmp_path / "cut.nii"
    cut.write_bytes(open(nifti_files["nii"][0], "rb").read()[:800])
    with pytest.raises(DataError, match="cut.nii.*truncated"):
        pipelines.nifti_dataset([nifti_files["nii"][1], str(cut)])
    with pytest.raises(DataError, match="missing.nii"):
        pipelines.nifti_dataset([str(tmp_path / "missing.nii")])
    with pytest.raises(ShapeError, match="does not fit"):
        pipelines.nifti_dataset(nifti_files["nii"], patch_size=(40, 4, 4))


def test_whiten_tf_matches_preprocessing_whiten():
    x = np.random.default_rng(4).normal(3, 2, size=(2, 5, 6, 7, 3)).astype(np.float32)
    ours = pipelines.whiten_tf(tf.constant(x)).numpy()
    ref = np.stack([preprocessing.whiten(v) for v in x])
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_read_fn_without_target_yields_features_only(cohort):
    out = list(pipelines.read_fn(cohort, "train", {"label": None, "example_size": (4, 4, 4),
                                                   "n_examples": 2}))
    assert len(out) == 6 and all(set(ex) == {"features"} for ex in out)
    ds = pipelines.generator_dataset(cohort, "train", {"label": None}, batch_size=3)
    assert next(iter(ds)).shape == (3, *SHAPE, 1)


def test_memmap_patches_are_whitened_with_volume_statistics(nifti_files):
    files = nifti_files["nii"]
    for path in files[:2]:
        ref = sitk.GetArrayFromImage(sitk.ReadImage(path, sitk.sitkFloat64))
        assert pipelines.volume_stats(path) == pytest.approx((ref.mean(), ref.std()), rel=1e-9)
        assert pipelines.volume_stats(path, chunk_voxels=100) == pytest.approx(
            (ref.mean(), ref.std()), rel=1e-9)
    ds = pipelines.nifti_dataset(files[:1], batch_size=2, patch_size=(4, 5, 6), n_patches=2,
                                 seed=1)
    raw = pipelines.nifti_dataset(files[:1], batch_size=2, patch_size=(4, 5, 6), n_patches=2,
                                  seed=1, whiten=False)
    ref = sitk.GetArrayFromImage(sitk.ReadImage(files[0], sitk.sitkFloat64))
    np.testing.assert_allclose(next(iter(ds)).numpy(),
                               (next(iter(raw)).numpy() - ref.mean()) / ref.std(), atol=1e-4)


# --------------------------------------------------------------------------- streaming: numpy
def _nibabel_reference(path, whiten: bool = True) -> np.ndarray:
    """An independent reading: nibabel's scaled float64 data, (z, y, x), whitened in float64."""
    x = np.asarray(nib.load(str(path)).get_fdata(dtype=np.float64)).transpose(2, 1, 0)
    return (x - x.mean()) / x.std() if whiten else x


@pytest.fixture
def odd_headers(tmp_path):
    """Scaled headers a scanner may write: negative slope, big-endian, float64, offset 1024."""
    rng = np.random.default_rng(5)
    stored = rng.integers(-500, 3000, size=SHAPE[::-1]).astype(np.int16)
    out = {}
    for name, dtype, slope, inter, ext in (("negative", "<i2", -2.0, 5.0, ".nii"),
                                           ("big_endian", ">i2", 0.25, -3.0, ".nii"),
                                           ("float64", "<f8", 1.0, 0.0, ".nii.gz"),
                                           ("offset", "<i2", 1.5, 0.0, ".nii.gz")):
        img = nib.Nifti1Image(stored.astype(dtype), np.eye(4))
        img.header.set_data_dtype(np.dtype(dtype))
        img.header.set_slope_inter(slope, inter)
        if name == "offset":
            img.header.set_data_offset(1024)
        nib.save(img, str(tmp_path / f"{name}{ext}"))
        out[name] = str(tmp_path / f"{name}{ext}")
    return out


@pytest.mark.parametrize("name", ["negative", "big_endian", "float64", "offset"])
def test_nifti_volumes_equal_a_numpy_reference_for_any_header(odd_headers, name):
    path = odd_headers[name]
    info = pipelines.nifti_info(path)
    if name == "offset":
        assert info.offset == 1024
    for whiten in (True, False):
        ds = pipelines.nifti_volumes([path], batch_size=1, shuffle=False, repeat=False,
                                     whiten=whiten)
        (x,) = list(pipelines.batches(ds))
        np.testing.assert_allclose(x.numpy()[0, ..., 0], _nibabel_reference(path, whiten),
                                   atol=1e-4 if whiten else 1e-3, rtol=1e-6)


def test_nifti_patches_whitened_and_labelled_like_numpy(nifti_files):
    images, maps = nifti_files["nii"], nifti_files["label"]
    ds = pipelines.nifti_patches(images, maps, patch_size=(4, 5, 6), n_patches=2, batch_size=3,
                                 seed=3)
    raw = pipelines.nifti_patches(images, maps, patch_size=(4, 5, 6), n_patches=2, batch_size=3,
                                  seed=3, whiten=False)
    for (x, y), (xr, yr) in zip(ds.take(4), raw.take(4), strict=True):
        assert x.shape == (3, 4, 5, 6, 1) and y.dtype == tf.uint8
        np.testing.assert_array_equal(y.numpy(), yr.numpy())
        for patch, unscaled in zip(x.numpy()[..., 0], xr.numpy()[..., 0], strict=True):
            k = next(i for i, p in enumerate(images)
                     if _find(_nibabel_reference(p, whiten=False), unscaled))
            ref = _nibabel_reference(images[k], whiten=False)
            np.testing.assert_allclose(patch, (unscaled - ref.mean()) / ref.std(), atol=1e-4)


def _find(volume: np.ndarray, patch: np.ndarray) -> bool:
    """True if ``patch`` is a block of ``volume``."""
    from numpy.lib.stride_tricks import sliding_window_view

    windows = sliding_window_view(volume, patch.shape)
    return bool(np.any(np.all(np.isclose(windows, patch), axis=(-3, -2, -1))))


@pytest.mark.parametrize("whiten", [True, False])
def test_compressed_patches_equal_memory_mapped_ones(nifti_files, whiten):
    """.nii.gz patches (one inflate per visit) are the very voxels of the .nii patches."""
    knobs = dict(patch_size=(4, 5, 6), n_patches=2, batch_size=3, seed=5, whiten=whiten)
    gz = pipelines.nifti_patches(nifti_files["gz"], **knobs)
    nii = pipelines.nifti_patches(nifti_files["nii"], **knobs)
    for a, b in zip(gz.take(5), nii.take(5), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)
    if not whiten:  # and the scaled values of an independent reader
        patch = next(iter(gz)).numpy()[0, ..., 0]
        assert any(_find(_nibabel_reference(p, whiten=False), patch)
                   for p in nifti_files["gz"])


def test_pooled_batches_stay_intact_while_held(nifti_files):
    """Batches handed to TensorFlow without a copy are not overwritten while still held."""
    knobs = dict(patch_size=(4, 5, 6), n_patches=2, batch_size=3, seed=9)
    held = list(pipelines.nifti_patches(nifti_files["gz"], **knobs).take(8))  # all alive
    for kept, again in zip(held, pipelines.nifti_patches(nifti_files["gz"], **knobs).take(8),
                           strict=True):
        np.testing.assert_array_equal(kept.numpy(), again.numpy())


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_streaming_memory_is_flat_in_the_number_of_subjects(tmp_path, ext):
    """numpy's peak memory (tracemalloc sees its buffers) while streaming 30 batches barely
    moves from 4 to 16 subjects: a few batches and one inflate buffer per thread, no volume
    kept (keeping the 12 more subjects as float32 would add 12 volumes)."""
    import tracemalloc

    rng = np.random.default_rng(3)
    files = []
    for k in range(16):
        img = nib.Nifti1Image(rng.integers(0, 3000, (48, 40, 32)).astype(np.int16), np.eye(4))
        files.append(str(tmp_path / f"m{k}{ext}"))
        nib.save(img, files[-1])
    peaks = []
    for n in (4, 16):
        ds = pipelines.nifti_patches(files[:n], patch_size=(24, 32, 40), batch_size=4)
        tracemalloc.start()
        for _ in ds.take(30):
            pass
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    volume = 32 * 40 * 48 * 4  # float32; a batch is 4 patches of 0.75 volume
    assert peaks[1] < peaks[0] + 6 * volume, peaks  # prefetch may hold a batch or two more


def test_buffer_pool_reuses_a_buffer_only_once_released():
    from course_utils.pipelines._common import BufferPool

    pool = BufferPool()
    first = pool.take((3, 50), np.float32)
    assert first.ctypes.data % 64 == 0
    second = pool.take((3, 50), np.float32)
    assert not np.shares_memory(first, second)
    address = first.ctypes.data
    del first
    assert pool.take((2, 50), np.float32).ctypes.data == address


def test_compressed_label_maps_follow_their_patches(nifti_files, tmp_path):
    maps = [_write(_array(p), tmp_path / f"l{k}.nii.gz")
            for k, p in enumerate(nifti_files["label"])]
    ds = pipelines.nifti_patches(nifti_files["raw"], maps, patch_size=(4, 5, 6), n_patches=3,
                                 batch_size=6, whiten=False, seed=7)
    x, y = next(iter(ds))
    assert y.dtype == tf.uint8
    np.testing.assert_array_equal(y.numpy(), _label_of(x.numpy()[..., 0]))


def test_nifti_patches_numeric_labels_follow_their_subject(nifti_files):
    ages = [20.0, 30.0, 40.0, 50.0]
    ds = pipelines.nifti_dataset(nifti_files["raw"], ages, patch_size=(2, 2, 2), n_patches=3,
                                 batch_size=6, whiten=False)
    for x, y in ds.take(3):
        subjects = [_locate(v)[0] for v in x.numpy()[:, 0, 0, 0, 0]]
        np.testing.assert_array_equal(y.numpy(), [ages[k] for k in subjects])


# --------------------------------------------------------------------------- errors in tf.data
@pytest.mark.parametrize("kind", ["nii", "gz"])
def test_a_file_cut_after_building_surfaces_as_data_error(nifti_files, kind):
    files = nifti_files[kind]
    ds = pipelines.nifti_volumes(files, batch_size=2, shuffle=False, repeat=False)
    data = open(files[2], "rb").read()
    open(files[2], "wb").write(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        list(pipelines.batches(ds))
    assert err.value.path == files[2]
    assert isinstance(err.value.__cause__, tf.errors.OpError)


def test_a_patch_file_removed_after_building_surfaces_as_data_error(nifti_files):
    files = nifti_files["nii"]
    ds = pipelines.nifti_patches(files, patch_size=(3, 3, 3), batch_size=8, shuffle=False)
    import os

    os.remove(files[1])
    with pytest.raises(DataError) as err:
        next(pipelines.batches(ds))
    assert err.value.path == files[1]


def test_bad_knobs_are_config_errors(nifti_files):
    from course_utils.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        pipelines.nifti_patches(nifti_files["nii"], patch_size=(2, 2, 2), n_patches=0)
    assert err.value.name == "n_patches"
    with pytest.raises(ConfigError) as err:
        pipelines.nifti_volumes(nifti_files["nii"], num_parallel_calls=0)
    assert err.value.name == "num_parallel_calls"


# --------------------------------------------------------------------------- timing and floors
def test_floors_and_timers_measure_real_work(nifti_files):
    t = pipelines.read_floor(nifti_files["nii"], 6, workers=2)
    g = pipelines.gunzip_floor(nifti_files["gz"], 6)
    pf = pipelines.patch_floor(nifti_files["nii"], (3, 3, 3), 6)
    assert all(v.wall > 0 and v.cpu >= 0 for v in (t, g, pf))
    ds = pipelines.nifti_volumes(nifti_files["nii"], batch_size=2)
    run = pipelines.time_run(ds, 3)
    assert run.wall > 0
    assert pipelines.time_batches(ds, 2, repeats=2) > 0
    assert pipelines.time_per_batch(ds, 2) > 0


def test_the_read_floor_holds_a_few_volumes_not_all_it_reads(tmp_path):
    # 160 reads of a 2 MiB float32 volume: held all at once they would be 320 MiB (notebook
    # 02 at binder peaked at 2.2 GB that way). numpy reports its arrays to tracemalloc.
    path = write_nifti(np.arange(80 * 80 * 80, dtype=np.int16).reshape(80, 80, 80) % 1000,
                       tmp_path / "v.nii")
    tracemalloc.start()
    try:
        pipelines.read_floor([path], 160, workers=2)
        peak_mib = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak_mib < 32, f"read_floor held {peak_mib:.0f} MiB at its peak"


def test_generator_errors_surface_as_the_course_error(cohort):
    rows = [dict(r) for r in cohort]
    ds = pipelines.generator_dataset(rows, "predict", {"sequences": ["t1"]}, batch_size=1)
    import os

    os.remove(rows[1]["t1"])
    with pytest.raises(DataError) as err:
        list(pipelines.batches(ds))
    assert err.value.path == rows[1]["t1"]
    assert isinstance(err.value.__cause__, tf.errors.OpError)


def test_timing_drops_each_batch_so_pooled_buffers_are_reused():
    """time_run draws batches as a training loop does, dropping each: a pipeline that hands
    TensorFlow pooled buffers then reuses a few instead of making one per timed batch (which
    cost a fresh 128 MB array, page faults and all, per batch at the seed's crop size)."""
    from course_utils.pipelines._common import BufferPool

    pool = BufferPool()

    def make(i):
        out = pool.take((64, 64), np.float32)
        out[...] = i
        return out

    ds = tf.data.Dataset.range(1000).map(
        lambda i: tf.ensure_shape(tf.numpy_function(make, [i], tf.float32, stateful=False),
                                  (64, 64)), num_parallel_calls=2).prefetch(2)
    pipelines.time_run(ds, 30, warmup=2)
    assert len(pool._buffers) <= 8, len(pool._buffers)
