"""Tests of course_utils.applications: demographics checks, data, test-time crops, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from _helpers import write_nifti
from scipy import ndimage
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score

from course_utils import applications as apps
from course_utils.errors import DataError, ShapeError


def _cohort(**columns) -> pd.DataFrame:
    base = {"subject_id": ["s0", "s1", "s2"], "age": [25.0, 47.5, 80.0], "sex": ["F", "M", "F"]}
    base.update(columns)
    df = pd.DataFrame({k: v for k, v in base.items() if v is not None})
    df.attrs["root"] = "/data/demo/demographics.csv"
    return df


# ---------------------------------------------------------------- demographics
def test_targets_from_demographics():
    df = _cohort()
    np.testing.assert_array_equal(apps.ages(df), [25.0, 47.5, 80.0])
    np.testing.assert_array_equal(apps.sex_labels(df), [0, 1, 0])


def test_missing_demographic_column_names_the_table():
    with pytest.raises(DataError, match=r"demographics.csv.*no column\(s\) age"):
        apps.check_demographics(_cohort(age=None))
    with pytest.raises(DataError, match="no column\\(s\\) sex"):
        apps.sex_labels(_cohort(sex=None))


@pytest.mark.parametrize("bad_age", [-3.0, 150.0, float("nan"), "unknown"])
def test_implausible_age_names_the_subject(bad_age):
    with pytest.raises(DataError, match=r"subject s1 has age .* outside the plausible range 0-120"):
        apps.ages(_cohort(age=[30.0, bad_age, 40.0]))


def test_unknown_sex_code_names_the_subject():
    with pytest.raises(DataError, match="subject s2 has sex 'X'"):
        apps.check_demographics(_cohort(sex=["F", "M", "X"]))


# ---------------------------------------------------------------- loading
def _head(rng, mean, sd, shape=(12, 14, 10)):
    """A brain (a block of tissue, [2:-2] on every axis) in a dark, empty background."""
    brain = np.zeros(shape, bool)
    brain[2:-2, 2:-2, 2:-2] = True
    return np.where(brain, rng.normal(mean, sd, size=shape), 0.0).astype("float32"), brain


def test_load_volumes_whitens_inside_the_brain_of_the_label_map(tmp_path):
    rng = np.random.default_rng(0)
    rows, brains = [], []
    for i in range(2):
        t1, brain = _head(rng, 100.0 * (i + 1), 10.0 * (i + 1))
        label = np.where(brain, 3, 0).astype("uint8")
        label[6, 7, 5] = 1  # any label > 0 is brain
        rows.append({"subject_id": f"s{i}", "t1": write_nifti(t1, tmp_path / f"t1_{i}.nii.gz"),
                     "label": write_nifti(label, tmp_path / f"label_{i}.nii.gz")})
        brains.append(brain)
    images = apps.load_volumes(pd.DataFrame(rows), sequences=("t1",))
    assert images.shape == (2, 12, 14, 10, 1) and images.dtype == np.float32
    for image, brain, row in zip(images[..., 0], brains, rows, strict=True):
        t1 = np.asarray(sitk.GetArrayFromImage(sitk.ReadImage(row["t1"])), float)
        assert abs(image[brain].mean()) < 1e-5 and abs(image[brain].std() - 1) < 1e-4
        # every voxel moved with the brain's statistics: the background too
        np.testing.assert_allclose(image, (t1 - t1[brain].mean()) / t1[brain].std(), atol=1e-4)


def test_load_volumes_without_labels_whitens_inside_the_foreground(tmp_path):
    t1, brain = _head(np.random.default_rng(1), 500.0, 20.0)
    rows = [{"subject_id": "ixi", "t1": write_nifti(t1, tmp_path / "t1.nii.gz"), "label": None}]
    image = apps.load_volumes(pd.DataFrame(rows))[0, ..., 0]
    assert abs(image[brain].mean()) < 1e-4 and abs(image[brain].std() - 1) < 1e-3
    assert image[~brain].max() < -10  # background far below the brain, as after lesson 03


def test_load_volumes_can_average_pool_as_it_reads(tmp_path):
    volume = np.random.default_rng(8).normal(size=(9, 8, 6))
    label = write_nifti(np.ones((9, 8, 6), "uint8"), tmp_path / "label.nii.gz")
    rows = [{"subject_id": "a", "t1": write_nifti(volume.astype("float32"), tmp_path / "a.nii.gz"),
             "label": label}]
    images = apps.load_volumes(pd.DataFrame(rows), factor=2)
    assert images.shape == (1, 4, 4, 3, 1)
    whitened = (volume - volume.mean()) / volume.std()  # the whole volume is brain here
    pooled = whitened[:8].reshape(4, 2, 4, 2, 3, 2).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(images[0, ..., 0], pooled, rtol=1e-4, atol=1e-5)


def test_tissue_volumes_in_millilitres(tmp_path):
    label = np.zeros((10, 10, 10), "uint8")
    label[:2] = 1  # 200 voxels of CSF
    label[2:5] = 3  # 300 voxels of white matter
    path = write_nifti(label, tmp_path / "label.nii.gz", spacing=(2.0, 2.0, 2.0))  # 8 mm^3 each
    volumes = apps.tissue_volumes(pd.DataFrame({"label": [path, path]}))
    assert list(volumes.columns[:3]) == ["CSF", "grey matter", "white matter"]
    np.testing.assert_allclose(volumes.iloc[0][["CSF", "grey matter", "white matter"]],
                               [1.6, 0.0, 2.4])
    with pytest.raises(DataError, match="label map per subject"):
        apps.tissue_volumes(pd.DataFrame({"t1": [path]}))


def test_load_volumes_rejects_mixed_grids(tmp_path):
    rng = np.random.default_rng(2)
    rows = [{"subject_id": s, "label": None,
             "t1": write_nifti(_head(rng, 100.0, 5.0, shape)[0], tmp_path / f"{s}.nii.gz")}
            for s, shape in (("a", (8, 8, 8)), ("b", (8, 9, 8)))]
    with pytest.raises(DataError, match="subject b has shape.*standardize=True"):
        apps.load_volumes(pd.DataFrame(rows))


def test_load_volumes_names_a_subject_without_brain_voxels(tmp_path):
    path = write_nifti(np.ones((6, 6, 6), "float32"), tmp_path / "blank.nii.gz")
    with pytest.raises(DataError, match="subject blank: its foreground mask.*no brain voxel") as err:
        apps.load_volumes(pd.DataFrame([{"subject_id": "blank", "t1": path, "label": None}]))
    assert err.value.path == path


def test_crop_to_multiple_centres_the_crop():
    x = np.arange(1 * 9 * 10 * 7).reshape(1, 9, 10, 7, 1)
    out = apps.crop_to_multiple(x, 4)
    assert out.shape == (1, 8, 8, 4, 1)
    np.testing.assert_array_equal(out, x[:, 0:8, 1:9, 1:5])


# ---------------------------------------------------------------- training data
def test_training_dataset_is_reproducible_and_augments():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(3, 10, 12, 8, 1)).astype("float32")
    targets = np.array([1.0, 2.0, 3.0], "float32")

    def take(seed, n=6):
        ds = apps.training_dataset(images, targets, (6, 8, 4), batch_size=2, seed=seed)
        return [(x.numpy(), y.numpy()) for x, y in ds.take(n)]

    a, b, c = take(0), take(0), take(1)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert any(not np.array_equal(xa, xc) for (xa, _), (xc, _) in zip(a, c, strict=True))
    x, y = a[0]
    assert x.shape == (2, 6, 8, 4, 1) and y.shape == (2,)
    # every crop is a block of its subject, possibly mirrored left/right (axis x)
    flipped = 0
    for crop, target in ((xx, yy) for xs, ys in a for xx, yy in zip(xs, ys, strict=True)):
        vol = images[int(target) - 1]
        found = None
        for z in range(5):
            for yy in range(5):
                for xx in range(5):
                    block = vol[z:z + 6, yy:yy + 8, xx:xx + 4]
                    if np.array_equal(block, crop):
                        found = "plain"
                    elif np.array_equal(block[:, :, ::-1], crop):
                        found = "flipped"
        assert found is not None
        flipped += found == "flipped"
    assert 0 < flipped < 12


def test_training_dataset_rejects_a_crop_larger_than_the_volume():
    with pytest.raises(ShapeError, match="crop_size"):
        apps.training_dataset(np.zeros((2, 8, 8, 8, 1)), np.zeros(2), (9, 8, 8), 2, 0)


def test_super_resolution_pairs_are_consistent():
    images = np.random.default_rng(2).normal(size=(2, 12, 12, 12, 1)).astype("float32")
    low, high = next(iter(apps.super_resolution_dataset(images, (8, 8, 8), 4, 2, seed=0)))
    assert low.shape == (2, 2, 2, 2, 1) and high.shape == (2, 8, 8, 8, 1)
    np.testing.assert_allclose(low.numpy()[0], apps.downsample(high.numpy()[0], 4), rtol=1e-6)
    with pytest.raises(ShapeError, match="axis z has 6 voxels"):
        apps.super_resolution_dataset(images, (6, 8, 8), 4, 2, seed=0)


# ---------------------------------------------------------------- test-time crops
def test_crop_offsets_centre_first_and_inside():
    offsets = apps.crop_offsets((10, 12, 8), (6, 8, 8), 9)
    assert offsets[0] == (2, 2, 0)
    assert len(offsets) == len(set(offsets)) == 5  # x has no margin: 4 distinct corners
    assert all(0 <= o[0] <= 4 and 0 <= o[1] <= 4 and o[2] == 0 for o in offsets)
    assert apps.crop_offsets((10, 12, 8), (6, 8, 8), 1) == [(2, 2, 0)]


def test_crop_offsets_corner_crops_cover_the_whole_grid():
    shape, size = (10, 12, 9, 1), (6, 8, 5)  # each crop at least half the grid on every axis
    offsets = apps.crop_offsets(shape, size, 9)
    assert len(offsets) == 9 and offsets[0] == (2, 2, 2)
    seen = np.zeros(shape[:3], int)
    for z, y, x in offsets[1:]:  # the 8 corners of the margin
        block = seen[z:z + size[0], y:y + size[1], x:x + size[2]]
        assert block.shape == size  # inside the grid
        block += 1
    assert seen.min() == 1 and seen[0, 0, 0] == seen[-1, -1, -1] == 1


def test_crop_offsets_refuses_a_crop_larger_than_the_grid():
    with pytest.raises(ShapeError, match=r"crop_size \(6, 13, 8\) is larger than the volume "
                                         r"\(10, 12, 8\); choose a smaller crop_size"):
        apps.crop_offsets((10, 12, 8, 1), (6, 13, 8), 1)


def test_predict_with_crops_averages_views():
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4, 4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Lambda(lambda t: t[:, :1])])  # the first voxel
    images = np.random.default_rng(3).random((2, 6, 6, 6, 1)).astype("float32")
    got = apps.predict_with_crops(model, images, (4, 4, 4), n_crops=2, flip=True)
    # centre (1,1,1) and corner (0,0,0); flipped views see voxel x+3 as the first one
    expected = (images[:, 1, 1, 1] + images[:, 1, 1, 4] + images[:, 0, 0, 0] + images[:, 0, 0, 3]) / 4
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    views = apps.predict_with_crops(model, images, (4, 4, 4), n_crops=2, flip=True, average=False)
    assert views.shape == (4, 2, 1)  # 2 crops x (plain, mirrored), 2 subjects, 1 output
    np.testing.assert_allclose(views[:, :, 0], [images[:, 1, 1, 1, 0], images[:, 1, 1, 4, 0],
                                                images[:, 0, 0, 0, 0], images[:, 0, 0, 3, 0]], rtol=1e-6)
    np.testing.assert_allclose(views.mean(axis=0), got, rtol=1e-6)
    plain = apps.predict_with_crops(model, images, (4, 4, 4), n_crops=2, flip=False, average=False)
    np.testing.assert_allclose(plain[:, :, 0], [images[:, 1, 1, 1, 0], images[:, 0, 0, 0, 0]])


# ---------------------------------------------------------------- metrics vs baselines
def test_regression_metrics_against_sklearn():
    truth = np.array([20.0, 40.0, 60.0, 80.0])
    pred = np.array([25.0, 35.0, 70.0, 80.0])
    m = apps.regression_metrics(pred, truth, train_truth=np.array([40.0, 60.0]))
    assert m["mae"] == pytest.approx(mean_absolute_error(truth, pred))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((pred - truth) ** 2)))
    assert m["baseline_value"] == 50.0
    assert m["baseline_mae"] == pytest.approx(mean_absolute_error(truth, np.full(4, 50.0)))


def test_classification_metrics_against_sklearn():
    truth = np.array([0, 1, 1, 1, 0])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9], [0.45, 0.55]])
    m = apps.classification_metrics(probs, truth, train_truth=np.array([1, 1, 0]))
    assert m["accuracy"] == pytest.approx(accuracy_score(truth, probs.argmax(1)))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(truth, probs[:, 1]))
    assert m["confusion"] == [[1, 1], [1, 2]]
    assert m["baseline_class"] == 1 and m["baseline_accuracy"] == pytest.approx(0.6)


# ---------------------------------------------------------------- image quality
def test_psnr_analytic():
    ref = np.zeros((4, 4, 4))
    ref[0, 0, 0] = 2.0  # range 2
    pred = ref + 0.1  # MSE 0.01
    assert apps.psnr(pred, ref) == pytest.approx(10 * np.log10(4 / 0.01))
    assert apps.psnr(ref, ref) == float("inf")
    with pytest.raises(ShapeError):
        apps.psnr(ref[:2], ref)


def test_ssim_identical_and_constant_images():
    rng = np.random.default_rng(4)
    x = rng.random((12, 12, 12))
    assert apps.ssim(x, x) == pytest.approx(1.0)
    a, b, peak = 0.3, 0.7, 1.0
    c1 = (0.01 * peak) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)  # luminance term only: no variance
    got = apps.ssim(np.full((12, 12, 12), a), np.full((12, 12, 12), b), data_range=peak)
    assert got == pytest.approx(expected, rel=1e-9)
    noise = rng.normal(0, 1, x.shape)
    assert apps.ssim(x + 0.3 * noise, x) < apps.ssim(x + 0.1 * noise, x) < 1


def test_ssim_matches_tensorflow_per_slice():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(5)
    ref = ndimage.gaussian_filter(rng.random((3, 24, 20)), 1.0)
    pred = ref + rng.normal(0, 0.02, ref.shape)
    peak = float(np.ptp(ref))
    ours = apps.ssim(pred, ref, data_range=peak, sigma=(0, 1.5, 1.5))
    theirs = tf.image.ssim(pred[..., None].astype("float32"), ref[..., None].astype("float32"),
                           max_val=peak, filter_size=11, filter_sigma=1.5)
    assert ours == pytest.approx(float(np.mean(theirs)), abs=1e-4)


def test_downsample_matches_average_pooling():
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(6).random((8, 12, 4, 2)).astype("float32")
    pooled = keras.layers.AveragePooling3D(pool_size=4)(x[None])[0]
    np.testing.assert_allclose(apps.downsample(x, 4), np.asarray(pooled), rtol=1e-5)


def test_downsample_factor_must_divide_the_shape():
    with pytest.raises(ShapeError, match=r"axis y has 58 voxels.*factor 4.*crop it to 56 or pad "
                                         r"it to 60"):
        apps.downsample(np.zeros((48, 58, 44)), 4)


def test_upsample_linear_keeps_constants_and_undoes_nothing_magic():
    x = np.full((3, 4, 5), 7.0, "float32")
    np.testing.assert_allclose(apps.upsample_linear(x, 4), 7.0, rtol=1e-6)
    ramp = np.arange(4, dtype="float32")[None, None, :].repeat(2, 0).repeat(2, 1)
    up = apps.upsample_linear(ramp, 2)[0, 0]
    np.testing.assert_allclose(up, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3], atol=1e-6)


def test_fit_logs_checkpoints_and_resumes(tmp_path, capsys):
    keras = pytest.importorskip("keras")
    x = np.random.default_rng(7).random((4, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def model():
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
        m.compile(optimizer="sgd", loss="mse", jit_compile=False)
        return m

    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()
    first = model()
    history = apps.fit(first, ds, epochs=2, steps_per_epoch=2, run_dir=tmp_path / "run")
    assert len(history.history["loss"]) == 2
    assert (tmp_path / "run" / "run.json").exists()
    from course_utils import training

    assert training.read_state(tmp_path / "run")["epoch"] == 2
    assert list((tmp_path / "run" / "logs").rglob("*tfevents*"))
    again = model()
    apps.fit(again, ds, epochs=2, steps_per_epoch=2, run_dir=tmp_path / "run")
    assert "already trained" in capsys.readouterr().out
    np.testing.assert_allclose(again.get_weights()[0], first.get_weights()[0])


def _graph(dataset):
    """The dataset's serialized tf.data graph (GraphDef)."""
    import tensorflow as tf

    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(dataset._as_serialized_graph().numpy())
    return graph


def test_volume_dataset_visits_each_volume_once_per_pass_without_copying_them():
    images = np.random.default_rng(8).random((6, 16, 16, 16, 1)).astype("float32")  # 96 KiB
    ds = apps.volume_dataset(images, images, batch_size=2, seed=0)
    seen = [x.numpy() for x, y in ds.take(6)]
    first_pass = np.concatenate(seen[:3])
    order = [int(np.flatnonzero([np.array_equal(v, im) for im in images])[0]) for v in first_pass]
    assert sorted(order) == list(range(6))
    second = np.concatenate(seen[3:])
    assert not np.array_equal(first_pass, second)  # reshuffled every pass
    # the volumes are read from the numpy array, not embedded in the graph as a second copy
    assert _graph(ds).ByteSize() < images.nbytes / 4
    assert any(node.op == "PrefetchDataset" for node in _graph(ds).node)


@pytest.mark.parametrize("make", [
    lambda im: apps.training_dataset(im, np.arange(len(im), dtype="float32"), (4, 4, 4), 2, 0),
    lambda im: apps.super_resolution_dataset(im, (4, 4, 4), 2, 2, seed=0),
])
def test_training_streams_are_prefetched(make):
    # without prefetch the model waited for every batch to be cut in Python
    images = np.zeros((3, 8, 8, 8, 1), "float32")
    assert any(node.op == "PrefetchDataset" for node in _graph(make(images)).node)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image is in the dev extra")
    rng = np.random.default_rng(9)
    ref = ndimage.gaussian_filter(rng.random((20, 24, 22)), 1.5)
    for noise in (0.01, 0.05):
        pred = ref + rng.normal(0, noise, ref.shape)
        peak = float(np.ptp(ref))
        theirs = metrics.structural_similarity(pred, ref, data_range=peak, gaussian_weights=True,
                                               sigma=1.5, use_sample_covariance=False)
        assert apps.ssim(pred, ref, data_range=peak) == pytest.approx(theirs, abs=2e-3)
