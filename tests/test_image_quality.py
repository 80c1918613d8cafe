"""Lesson 10's degradation (DLTK's overlapping average pool), PSNR and SSIM, against independent references."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy import ndimage

from course_utils.errors import ShapeError
from course_utils.image_quality import psnr, ssim
from course_utils.resolution import downsample

tf = pytest.importorskip("tensorflow")

from course_utils.networks.super_resolution import low_resolution  # noqa: E402


def _windows_mean(volume: np.ndarray, factor: int) -> np.ndarray:
    """Brute force: low voxel j = mean of high voxels [j*f - f//2, j*f - f//2 + 2f) cut to the volume."""
    out = np.zeros([n // factor for n in volume.shape])
    for j in np.ndindex(out.shape):
        box = tuple(slice(max(q * factor - factor // 2, 0), min(q * factor - factor // 2 + 2 * factor, n))
                    for q, n in zip(j, volume.shape, strict=True))
        out[j] = volume[box].mean()
    return out


@pytest.mark.parametrize("factor", [2, 4])
def test_low_resolution_is_dltks_overlapping_average_pool(factor):
    x = np.random.default_rng(0).random((2, 8, 12, 16, 1)).astype("float32")
    low = np.asarray(low_resolution(x, factor))
    assert low.shape == (2, 8 // factor, 12 // factor, 16 // factor, 1)
    np.testing.assert_allclose(low[1, ..., 0], _windows_mean(x[1, ..., 0], factor), atol=1e-6)
    # DLTK's train.py: average_pooling3d(pool_size=2 * factor, strides=factor, padding="same")
    dltk = tf.nn.avg_pool3d(x, ksize=2 * factor, strides=factor, padding="SAME")
    np.testing.assert_allclose(low, dltk.numpy(), atol=1e-6)


def test_low_resolution_windows_overlap_unlike_blocks():
    """One bright voxel reaches two low-resolution voxels per axis; block averaging reaches one."""
    x = np.zeros((1, 16, 16, 16, 1), "float32")
    x[0, 4, 4, 4, 0] = 1.0  # inside the windows of low voxels 0 and 1 (factor 4: [-2, 6) and [2, 10))
    low = np.asarray(low_resolution(x, 4))[0, ..., 0]
    assert np.count_nonzero(low) == 8 and np.all(low[:2, :2, :2] > 0)
    assert np.count_nonzero(downsample(x[0], 4)[..., 0]) == 1


def test_low_resolution_runs_inside_tf_data_and_refuses_non_multiples():
    x = np.random.default_rng(1).random((2, 8, 8, 8, 1)).astype("float32")
    ds = tf.data.Dataset.from_tensors(x).map(lambda high: (low_resolution(high, 2), high))
    low, high = next(iter(ds))
    np.testing.assert_allclose(low.numpy(), np.asarray(low_resolution(x, 2)), atol=1e-6)
    with pytest.raises(ShapeError, match=r"\(8, 10, 8\) is not a multiple of 4.*crop_to_multiple"):
        low_resolution(np.zeros((1, 8, 10, 8, 1)), 4)


def test_psnr_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(6, 7, 8))
    pred = ref + rng.normal(0, 0.1, ref.shape)
    assert psnr(pred, ref) == pytest.approx(
        metrics.peak_signal_noise_ratio(ref, pred, data_range=np.ptp(ref)), rel=1e-9)
    assert psnr(pred, ref, data_range=2.0) == pytest.approx(
        metrics.peak_signal_noise_ratio(ref, pred, data_range=2.0), rel=1e-9)


def test_psnr_errors_name_the_measure():
    with pytest.raises(ShapeError, match=r"psnr needs equal shapes"):
        psnr(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"psnr: the reference image is constant.*data_range"):
        psnr(np.ones(4), np.zeros(4))


def _ssim_window_by_window(x: np.ndarray, y: np.ndarray, peak: float, sigma: float = 1.5,
                           truncate: float = 3.5) -> np.ndarray:
    """Wang et al.'s three factors (C3 = C2 / 2), window by window with explicit Gaussian
    weights and central moments: the SSIM map at every voxel whose window fits inside."""
    r = int(truncate * sigma + 0.5)
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    w = functools.reduce(np.multiply.outer, [g] * x.ndim)
    w /= w.sum()
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    c3 = c2 / 2
    values = []
    for centre in np.ndindex(*(n - 2 * r for n in x.shape)):
        box = tuple(slice(c, c + 2 * r + 1) for c in centre)
        a, b = x[box], y[box]
        ma, mb = (w * a).sum(), (w * b).sum()
        sa, sb = np.sqrt((w * (a - ma) ** 2).sum()), np.sqrt((w * (b - mb) ** 2).sum())
        sab = (w * (a - ma) * (b - mb)).sum()
        luminance = (2 * ma * mb + c1) / (ma**2 + mb**2 + c1)
        contrast = (2 * sa * sb + c2) / (sa**2 + sb**2 + c2)
        structure = (sab + c3) / (sa * sb + c3)
        values.append(luminance * contrast * structure)
    return np.reshape(values, [n - 2 * r for n in x.shape])


@pytest.mark.parametrize("shape", [(24, 22), (13, 14, 12)])
def test_ssim_is_wangs_three_factors_window_by_window(shape):
    rng = np.random.default_rng(3)
    ref = ndimage.gaussian_filter(rng.random(shape), 1.0)
    for noise in (0.01, 0.1):
        pred = 0.9 * ref + 0.02 + rng.normal(0, noise, shape)  # luminance, contrast and structure
        peak = float(np.ptp(ref))
        assert ssim(pred, ref) == pytest.approx(_ssim_window_by_window(pred, ref, peak).mean(),
                                                abs=1e-9)


def test_ssim_in_a_mask_averages_the_map_there_only():
    rng = np.random.default_rng(6)
    ref = ndimage.gaussian_filter(rng.random((26, 24)), 1.0)
    pred = ref + rng.normal(0, 0.05, ref.shape)
    mask = np.zeros(ref.shape, bool)
    mask[3:20, 8:24] = True  # partly in the border, where no whole window fits
    expected = _ssim_window_by_window(pred, ref, float(np.ptp(ref)))[mask[5:-5, 5:-5]].mean()
    assert ssim(pred, ref, mask=mask) == pytest.approx(expected, abs=1e-9)
    assert ssim(pred, ref, mask=np.ones(ref.shape, bool)) == ssim(pred, ref)
    with pytest.raises(ShapeError, match=r"ssim: the mask has shape \(26, 23\), the images \(26, 24\)"):
        ssim(pred, ref, mask=mask[:, 1:])


def test_ssim_matches_scikit_image_in_3d():
    metrics = pytest.importorskip("skimage.metrics", reason="scikit-image is in the dev extra")
    rng = np.random.default_rng(4)
    ref = ndimage.gaussian_filter(rng.random((20, 24, 22)), 1.5)
    pred = ref + rng.normal(0, 0.03, ref.shape)
    theirs = metrics.structural_similarity(pred, ref, data_range=np.ptp(ref), gaussian_weights=True,
                                           sigma=1.5, use_sample_covariance=False)
    assert ssim(pred, ref) == pytest.approx(theirs, abs=1e-9)


def test_ssim_per_axial_slice_is_the_mean_of_2d_ssims():
    rng = np.random.default_rng(5)
    ref = ndimage.gaussian_filter(rng.random((4, 20, 18)), 1.0)
    pred = ref + rng.normal(0, 0.05, ref.shape)
    peak = float(np.ptp(ref))
    per_slice = [ssim(p, r, data_range=peak) for p, r in zip(pred, ref, strict=True)]
    assert ssim(pred, ref, sigma=(0, 1.5, 1.5)) == pytest.approx(np.mean(per_slice), abs=1e-12)


def test_ssim_constants_keep_flat_windows_defined():
    """Without C1 and C2 a flat window is 0/0; with them it counts as agreement."""
    ref = np.zeros((16, 40))
    ref[:, 20:] = 1.0  # two flat halves and one edge
    pred = ref.copy()
    pred[:, 20] = 0.5  # the edge is blurred: only the windows that reach column 20 disagree
    assert 0.9 < ssim(pred, ref) < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        assert np.isnan(ssim(pred, ref, k1=0.0, k2=0.0))


def test_ssim_errors_name_the_measure():
    with pytest.raises(ShapeError, match=r"ssim needs equal shapes"):
        ssim(np.zeros((12, 12)), np.zeros((12, 13)))
    with pytest.raises(ShapeError, match=r"ssim: the reference image is constant.*data_range"):
        ssim(np.ones((12, 12)), np.zeros((12, 12)))
