"""Intensity section of course_utils.preprocessing against numpy/scipy computations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from course_utils import preprocessing as pp
from course_utils.errors import ConfigError, DataError, ShapeError


def _volume(shape=(12, 14, 10), channels=None, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    full = shape if channels is None else (*shape, channels)
    return (rng.gamma(2.0, 50.0, full) + 30).astype(np.float32)


# --------------------------------------------------------------------------- whiten
def test_whiten_volume_matches_numpy():
    x = _volume()
    out = pp.whiten(x)
    expected = (x.astype(np.float64) - x.mean()) / x.std()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_whiten_per_channel_when_last_axis_is_channels():
    x = _volume(channels=3)
    x[..., 1] = x[..., 1] * 40 + 1000  # very different contrast in channel 1
    out = pp.whiten(x)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-5)
    # each channel on its own gives the same result
    for c in range(3):
        np.testing.assert_allclose(out[..., c], pp.whiten(x[..., c]), atol=1e-5)


def test_whiten_removes_any_linear_contrast_change():
    x = _volume()
    np.testing.assert_allclose(pp.whiten(x), pp.whiten(3.7 * x - 120.0), atol=1e-4)


def test_whiten_a_batch_is_whitening_each_volume():
    """No ``axis`` argument: a batch is whitened volume by volume (the taught function's scope)."""
    batch = np.stack([_volume(channels=2, seed=s) * (s + 1) for s in range(3)])
    out = np.stack([pp.whiten(v) for v in batch])
    for i in range(3):
        np.testing.assert_allclose(out[i].mean(axis=(0, 1, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(out[i].std(axis=(0, 1, 2)), 1, atol=1e-5)


def test_whiten_with_a_brain_mask_on_a_real_nifti_subject(tmp_path):
    """A head in a large background (a real NIfTI file through SimpleITK): with the brain mask the
    brain has mean 0 and sd 1; without it the background's zeros set the statistics, so the
    brain's mean lands well above 0 (the lesson's change-predict exercise)."""
    import SimpleITK as sitk

    z, y, x = np.indices((40, 48, 44))
    brain = (z - 20) ** 2 + (y - 24) ** 2 + (x - 22) ** 2 < 12**2
    rng = np.random.default_rng(4)
    t1 = np.where(brain, rng.normal(600, 80, brain.shape), 0).astype(np.int16)
    path = tmp_path / "t1.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(t1), str(path))
    image = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    masked = pp.whiten(image, mask=brain)
    np.testing.assert_allclose(masked[brain].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(masked[brain].std(), 1, atol=1e-5)
    assert masked[~brain].max() < -5  # the background is far below the brain, as it should be
    unmasked = pp.whiten(image)
    assert unmasked[brain].mean() > 1.0 and unmasked[brain].std() < 0.5


def test_whiten_with_mask_uses_statistics_inside_only():
    x = _volume()
    mask = np.zeros(x.shape, bool)
    mask[3:9, 4:10, 2:8] = True
    out = pp.whiten(x, mask=mask)
    inside = x[mask].astype(np.float64)
    np.testing.assert_allclose(out, (x - inside.mean()) / inside.std(), atol=1e-5)
    np.testing.assert_allclose(out[mask].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(out[mask].std(), 1, atol=1e-5)
    # a spatial mask applies to every channel of a 4D image
    x4 = _volume(channels=2)
    out4 = pp.whiten(x4, mask=mask)
    np.testing.assert_allclose(out4[..., 1], pp.whiten(x4[..., 1], mask=mask), atol=1e-5)


def test_whiten_constant_volume_is_centred_not_nan():
    out = pp.whiten(np.full((4, 5, 6), 7.0, np.float32))
    assert np.all(out == 0)


def test_whiten_bad_inputs():
    labels = np.random.default_rng(0).integers(0, 5, (6, 6, 6)).astype(np.uint8)
    with pytest.raises(DataError, match="label map"):
        pp.whiten(labels)
    with pytest.raises(DataError, match="label map"):
        pp.whiten(labels > 2)
    x = _volume()
    x[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        pp.whiten(x)
    with pytest.raises(DataError, match="empty"):
        pp.whiten(_volume(), mask=np.zeros((12, 14, 10), bool))
    with pytest.raises(ShapeError, match="mask shape"):
        pp.whiten(_volume(), mask=np.ones((3, 3, 3), bool))
    with pytest.raises(ShapeError, match=r"spatial shape \(12, 14, 10\)"):  # one mask per channel
        pp.whiten(_volume(channels=2), mask=np.ones((12, 14, 10, 2), bool))


def test_integer_intensity_image_with_many_values_is_accepted():
    ct = np.random.default_rng(1).integers(-1000, 2000, (10, 10, 10)).astype(np.int16)
    out = pp.whiten(ct)
    np.testing.assert_allclose(out.std(), 1, atol=1e-5)


# --------------------------------------------------------------------------- windowing
def test_rescale_window_analytic_values():
    hu = np.array([-1000.0, -20.0, 0.0, 40.0, 80.0, 100.0, 1500.0], np.float32)
    out = pp.rescale_window(hu, 0, 80)
    np.testing.assert_allclose(out, [-1, -1, -1, 0, 1, 1, 1], atol=1e-6)
    ct = np.random.default_rng(2).integers(-1024, 3000, (8, 8, 8)).astype(np.int16)
    out = pp.rescale_window(ct, -1000, 1000)
    assert out.min() >= -1 and out.max() <= 1
    np.testing.assert_allclose(out, (np.clip(ct, -1000, 1000) / 1000.0), atol=1e-6)


@pytest.mark.parametrize("low, high", [(80, 0), (10, 10), (0, np.inf)])
def test_rescale_window_rejects_bad_window(low, high):
    with pytest.raises(ConfigError, match="low < high"):
        pp.rescale_window(_volume(), low, high)


# --------------------------------------------------------------------------- label checks
def test_check_label_map():
    labels = np.arange(5, dtype=np.float32).repeat(4).reshape(4, 5)
    assert pp.check_label_map(labels, 5).dtype.kind == "i"  # float labels from a NIfTI file
    with pytest.raises(DataError, match="intensity image"):
        pp.check_label_map(_volume())
    with pytest.raises(DataError, match="outside the class range"):
        pp.check_label_map(np.array([0, 1, 5]), n_classes=5)
    with pytest.raises(DataError, match="outside the class range"):
        pp.check_label_map(np.array([-1, 1, 2]), n_classes=5)


def test_foreground_mask_finds_a_sphere():
    z, y, x = np.indices((30, 30, 30))
    sphere = (z - 15) ** 2 + (y - 14) ** 2 + (x - 16) ** 2 < 9**2
    rng = np.random.default_rng(3)
    image = np.where(sphere, 100.0, 5.0) + rng.normal(0, 5, sphere.shape)
    mask = pp.foreground_mask(image.astype(np.float32))
    dice = 2 * (mask & sphere).sum() / (mask.sum() + sphere.sum())
    assert dice > 0.95
    # the holes of a hollow object are filled
    hollow = np.where(sphere & ~ndimage.binary_erosion(sphere, iterations=3), 100.0, 5.0)
    assert pp.foreground_mask(hollow.astype(np.float32))[15, 14, 16]


def test_exercise_checks_03(capsys):
    from course_utils import exercises

    x = _volume()
    mask = x > np.median(x)
    inside = x[mask].astype(np.float64)
    assert exercises.check_masked_whitening((x - inside.mean()) / inside.std(), x, mask)
    assert not exercises.check_masked_whitening(pp.whiten(x), x, mask)  # whole-volume stats
    assert not exercises.check_masked_whitening(None, x, mask)
    assert "Hint" in capsys.readouterr().out


def test_coarse_int16_intensity_image_says_how_to_cast():
    """An int16 scan with few grey levels is refused as a label map, with the cast to use."""
    scan = (np.random.default_rng(2).integers(0, 20, (10, 10, 10)) * 100).astype(np.int16)
    with pytest.raises(DataError, match=r"astype\(np\.float32\)"):
        pp.whiten(scan)
    out = pp.whiten(scan.astype(np.float32))  # what the message says works
    np.testing.assert_allclose(out.std(), 1, atol=1e-5)


def test_int16_intensity_image_passed_as_labels_is_refused():
    ct = np.random.default_rng(1).integers(-1000, 2000, (10, 10, 10)).astype(np.int16)
    with pytest.raises(DataError, match=r"looks like an intensity image.*label volume"):
        pp.check_label_map(ct)
    labels = np.random.default_rng(1).integers(0, 5, (10, 10, 10)).astype(np.int16)
    assert pp.check_label_map(labels, 5).dtype == np.int16  # a real int16 label map passes
