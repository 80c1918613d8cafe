"""Tests of course_utils.inference: sliding windows, blending, writing with the input's geometry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import SimpleITK as sitk

from course_utils import inference, networks
from course_utils.errors import ConfigError, DataError, ModelError, ShapeError


@pytest.fixture(scope="module")
def fcn() -> keras.Model:
    """A small fully convolutional network: two 3x3x3 convolutions (receptive radius 2)."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, None, 2))
    x = keras.layers.Conv3D(6, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv3D(3, 3, padding="same")(x)
    outputs = keras.layers.Activation("softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(20, 28, 36, 2)).astype("float32")


def test_window_starts_cover_the_axis_and_end_flush():
    assert inference.window_starts(36, 16, 8) == [0, 8, 16, 20]
    assert inference.window_starts(16, 16, 8) == [0]
    covered = np.zeros(37, bool)
    for s in inference.window_starts(37, 10, 7):
        covered[s:s + 10] = True
    assert covered.all()


@pytest.mark.parametrize("mode", ["gaussian", "linear", "constant"])
def test_blending_weights_are_positive_symmetric_and_peak_at_the_centre(mode):
    w = inference.blending_weights((8, 9, 10), mode)
    assert w.shape == (8, 9, 10) and w.min() > 0 and np.isclose(w.max(), 1, atol=0.02)
    np.testing.assert_allclose(w, w[::-1, ::-1, ::-1], rtol=1e-6)
    if mode != "constant":
        assert w[4, 4, 5] > w[0, 4, 5] and w[4, 4, 5] > w[4, 0, 5]


def test_sliding_window_matches_whole_volume_prediction(fcn, volume):
    whole = np.asarray(fcn.predict_on_batch(volume[None]))[0]
    # Narrow Gaussian weights: window edges (where zero padding differs) hardly count.
    sliding = inference.sliding_window_predict(fcn, volume, window=16, overlap=0.5,
                                               batch_size=3, sigma_scale=0.08)
    assert sliding.shape == whole.shape
    np.testing.assert_allclose(sliding, whole, atol=1e-4)
    # The default weights also agree closely, and far better than tiles without overlap.
    default = inference.sliding_window_predict(fcn, volume, window=16)
    tiles = inference.sliding_window_predict(fcn, volume, window=(10, 14, 12), overlap=0,
                                             blending="constant")
    inner = (slice(2, -2),) * 3
    assert np.abs(default - whole)[inner].max() < 0.02
    assert np.abs(tiles - whole)[inner].max() > 10 * np.abs(default - whole)[inner].max()
    labels = inference.segment(fcn, volume, window=16, sigma_scale=0.08)
    assert labels.dtype == np.uint8
    agree = (labels == whole.argmax(-1)).mean()
    assert agree > 0.999


def test_volume_smaller_than_window_is_a_shape_error_or_padded(fcn):
    small = np.random.default_rng(1).normal(size=(10, 16, 12, 2)).astype("float32")
    with pytest.raises(ShapeError, match="pad=True"):
        inference.sliding_window_predict(fcn, small, window=16)
    padded = inference.sliding_window_predict(fcn, small, window=16, pad=True)
    assert padded.shape == (10, 16, 12, 3)
    reference = np.asarray(fcn.predict_on_batch(np.pad(small, [(0, 6), (0, 0), (0, 4), (0, 0)])[None]))
    np.testing.assert_allclose(padded, reference[0, :10, :, :12], atol=1e-5)


def test_unet_window_must_fit_the_strides(volume):
    model = networks.residual_unet_3d(n_classes=3, n_channels=2, filters=(4, 8, 8))
    with pytest.raises(ShapeError, match="multiple of"):
        inference.sliding_window_predict(model, volume, window=10)
    out = inference.sliding_window_predict(model, volume, window=16)
    assert out.shape == (20, 28, 36, 3)
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-4)


def test_written_segmentation_has_the_input_geometry(tmp_path):
    reference = sitk.Image(9, 7, 5, sitk.sitkFloat32)
    reference.SetSpacing((1.2, 0.9, 2.5))
    reference.SetOrigin((-10.5, 20.25, 3.0))
    rotation = sitk.VersorTransform((0.2, 0.1, 1.0), 0.6).GetMatrix()
    reference.SetDirection(rotation)
    labels = np.random.default_rng(2).integers(0, 5, size=(5, 7, 9)).astype(np.uint8)
    for ref in (reference, None):
        if ref is None:  # a path to the input file works too
            sitk.WriteImage(reference, str(tmp_path / "input.nii.gz"))
            ref = tmp_path / "input.nii.gz"
        path = inference.write_segmentation(labels, ref, tmp_path / "seg.nii.gz", grid=ref)
        written = sitk.ReadImage(str(path))
        np.testing.assert_allclose(written.GetSpacing(), reference.GetSpacing(), atol=1e-5)
        np.testing.assert_allclose(written.GetOrigin(), reference.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(written.GetDirection(), reference.GetDirection(), atol=1e-5)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(written), labels)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.sum((a > 0) & (b > 0)) / (np.sum(a > 0) + np.sum(b > 0))


def test_prediction_on_the_standardised_grid_is_written_on_the_raw_grid_not_mirrored(tmp_path):
    """#14: the raw scan (RAS-stored, same size) as reference used to mirror the labels."""
    raw = sitk.Image(12, 10, 8, sitk.sitkUInt8)
    raw.SetSpacing((1.0, 1.0, 1.5))
    raw.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))  # how many NIfTI scans are stored
    raw.SetOrigin((30.0, 20.0, -5.0))
    truth = np.zeros((8, 10, 12), np.uint8)
    truth[1:4, 2:5, 1:6] = 1  # an off-centre blob: mirroring moves it
    truth[5:7, 6:9, 7:11] = 2
    raw_truth = sitk.GetImageFromArray(truth)
    raw_truth.CopyInformation(raw)
    standard = sitk.DICOMOrient(raw_truth, "LPS")  # the grid the network saw
    assert standard.GetSize() == raw.GetSize() and not np.allclose(standard.GetDirection(),
                                                                   raw.GetDirection())
    perfect = sitk.GetArrayFromImage(standard)  # a perfect prediction on that grid
    sitk.WriteImage(raw, str(tmp_path / "raw.nii.gz"))
    with pytest.raises(ConfigError) as err:  # an array alone cannot be placed: refused
        inference.write_segmentation(perfect, tmp_path / "raw.nii.gz", tmp_path / "seg.nii.gz")
    assert err.value.name == "grid" and not (tmp_path / "seg.nii.gz").exists()
    path = inference.write_segmentation(perfect, tmp_path / "raw.nii.gz", tmp_path / "seg.nii.gz",
                                        grid=standard)
    written = sitk.ReadImage(str(path))
    np.testing.assert_allclose(written.GetDirection(), raw.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(written), truth)
    assert _dice(perfect, truth) < 0.6  # what writing it with the raw header would score
    # a SimpleITK label image carries its grid: no grid= needed
    inference.write_segmentation(standard, raw, tmp_path / "seg2.nii.gz")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "seg2.nii.gz"))),
                                  truth)


def test_written_segmentation_refuses_bad_labels_and_disjoint_grids(tmp_path):
    grid = sitk.Image(6, 5, 4, sitk.sitkUInt8)
    for bad in (np.full((4, 5, 6), 300), np.full((4, 5, 6), -1), np.full((4, 5, 6), 0.5)):
        with pytest.raises(DataError):  # used to wrap to 44, 255 and 0 silently
            inference.write_segmentation(bad, grid, tmp_path / "bad.nii.gz", grid=grid)
    with pytest.raises(ShapeError, match="do not fit the grid"):
        inference.write_segmentation(np.zeros((6, 5, 4), np.uint8), grid, tmp_path / "t.nii.gz",
                                     grid=grid)
    far = sitk.Image(grid)
    far.SetOrigin((500.0, 0.0, 0.0))
    with pytest.raises(ShapeError, match="do not overlap"):
        inference.write_segmentation(np.ones((4, 5, 6), np.uint8), far, tmp_path / "f.nii.gz",
                                     grid=grid)
    assert not list(tmp_path.iterdir())


def test_model_with_a_fixed_input_size_names_the_window_it_needs(volume):
    inputs = keras.Input((8, 8, 8, 2))
    model = keras.Model(inputs, keras.layers.Conv3D(3, 1, activation="softmax")(inputs))
    with pytest.raises(ShapeError, match=r"windows of \(8, 8, 8\)"):  # was a raw Keras error
        inference.sliding_window_predict(model, volume, window=16)
    assert inference.sliding_window_predict(model, volume).shape == (20, 28, 36, 3)
    with pytest.raises(ShapeError, match="2 input channel"):
        inference.sliding_window_predict(model, volume[..., :1])


def test_model_without_voxel_wise_outputs_is_refused(volume):
    classifier = networks.resnet_3d((None, None, None, 2), head="classification", n_outputs=2,
                                    filters=(2,))
    with pytest.raises(ShapeError, match="voxel-wise"):  # was a raw numpy broadcasting error
        inference.sliding_window_predict(classifier, volume, window=16)


@pytest.mark.parametrize(("kwargs", "name"), [({"overlap": 1.5}, "overlap"),
                                              ({"window": -3}, "window"),
                                              ({"window": 2.5}, "window"),
                                              ({"batch_size": 0}, "batch_size"),
                                              ({"blending": "gauss"}, "blending"),
                                              ({"sigma_scale": 0}, "sigma_scale"),
                                              ({"pad": "yes"}, "pad")])
def test_bad_inference_options_are_config_errors_naming_the_argument(fcn, volume, kwargs, name):
    with pytest.raises(ConfigError) as err:
        inference.sliding_window_predict(fcn, volume, **{"window": 16, **kwargs})
    assert err.value.name == name


def test_non_finite_image_or_prediction_is_refused(fcn, volume):
    broken = volume.copy()
    broken[3, 4, 5, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        inference.sliding_window_predict(fcn, broken, window=16)
    inputs = keras.Input((None, None, None, 2))
    nan_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * np.float32("nan"))(inputs))
    with pytest.raises(ModelError):  # argmax of NaN would have been a plausible class 0 map
        inference.segment(nan_model, volume, window=16)


def test_size_multiple_survives_save_and_load(volume, tmp_path):
    model = networks.residual_unet_3d(n_classes=3, n_channels=2, filters=(4, 8, 8))
    model.save(tmp_path / "unet.keras")
    loaded = keras.models.load_model(tmp_path / "unet.keras")
    assert networks.size_multiple(loaded) == (4, 4, 4)
    with pytest.raises(ShapeError, match=r"multiple of \(4, 4, 4\)"):
        inference.sliding_window_predict(loaded, volume, window=10)


# ----------------------------------------------------------------------------- blending, native space


def test_blend_windows_is_the_weighted_average_of_the_overlapping_votes():
    """Two windows along x with constant votes 1 and 3: the overlap gets their weighted mean."""
    image = np.zeros((2, 2, 6, 1), np.float32)
    slices = [(slice(0, 2), slice(0, 2), slice(0, 4)), (slice(0, 2), slice(0, 2), slice(2, 6))]
    votes = iter([1.0, 3.0])

    def predict(batch):  # one call per window (batch_size=1): a constant vote per window
        return np.full(batch.shape[:4] + (1,), next(votes), np.float32)

    weights = np.ones((2, 2, 4), np.float32)
    weights[..., 1:3] = 3.0  # the window's centre counts three times its edges
    blended = inference.blend_windows(predict, image, slices, weights, batch_size=1)[0, 0, :, 0]
    # x=2: centre of window 1 (weight 3, vote 1), edge of window 2 (weight 1, vote 3); x=3 the reverse
    expected = [1.0, 1.0, (3 * 1 + 1 * 3) / 4, (1 * 1 + 3 * 3) / 4, 3.0, 3.0]
    np.testing.assert_allclose(blended, expected)


def _anisotropic_scan(tmp_path):
    """A 'native' label scan as many are stored: RAS direction, 1 x 1 x 2.5 mm voxels, off-centre."""
    truth = np.zeros((12, 30, 26), np.uint8)
    truth[2:6, 4:14, 3:12] = 1
    truth[6:10, 16:27, 12:23] = 2
    image = sitk.GetImageFromArray(truth)
    image.SetSpacing((1.0, 1.0, 2.5))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    image.SetOrigin((40.0, -10.0, 7.0))
    path = tmp_path / "native_label.nii.gz"
    sitk.WriteImage(image, str(path))
    return truth, path


def test_probabilities_go_back_to_the_native_grid_through_physical_space(tmp_path):
    """Standardise (as data.load does), predict perfectly there, map back: the native labels."""
    from course_utils import metrics, preprocessing

    truth, path = _anisotropic_scan(tmp_path)
    native = sitk.ReadImage(str(path))
    standard = preprocessing.crop_or_pad(preprocessing.resample_isotropic(
        preprocessing.reorient(native, "LPS"), 1.0, is_label=True), (32, 36, 40))
    probabilities = np.eye(3, dtype=np.float32)[sitk.GetArrayFromImage(standard)]
    back = inference.resample_probabilities(probabilities, standard, path)
    assert back.shape == truth.shape + (3,)
    dice = metrics.dice_per_class(back.argmax(-1), truth, 3)
    assert dice.min() > 0.95, dice
    assert back[0, 0, 0].tolist() == [1.0, 0.0, 0.0]  # a corner: background, probabilities sum to 1


def test_resample_probabilities_refuses_a_wrong_shape_or_a_disjoint_grid(tmp_path):
    _, path = _anisotropic_scan(tmp_path)
    grid = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    with pytest.raises(ShapeError):
        inference.resample_probabilities(np.zeros((8, 8, 7, 3)), grid, path)
    grid.SetOrigin((5000.0, 0.0, 0.0))
    with pytest.raises(ShapeError, match="do not overlap"):
        inference.resample_probabilities(np.zeros((8, 8, 8, 3)), grid, path)
