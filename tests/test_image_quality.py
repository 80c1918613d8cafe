"""Lesson 10's degradation (DLTK's overlapping average pool) and PSNR, against independent references."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils.errors import ShapeError
from course_utils.image_quality import psnr
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
