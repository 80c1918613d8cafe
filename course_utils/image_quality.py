"""Image quality against a reference: PSNR (taught in lesson 09) and SSIM (lesson 10)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from course_utils.errors import ShapeError


def checked_pair(predicted: np.ndarray, reference: np.ndarray, data_range: float | None,
                 who: str) -> tuple[np.ndarray, np.ndarray, float]:
    """``predicted`` and ``reference`` as float arrays of one shape, and the peak value.

    Parameters: ``predicted``, ``reference``: the images; ``data_range``: the peak (None:
    the reference's max - min); ``who``: the measure's name, for the error messages.
    Raises ShapeError for different shapes, or a constant reference without ``data_range``.
    """
    predicted = np.asarray(predicted, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if predicted.shape != reference.shape:
        raise ShapeError(f"{who} needs equal shapes, got {predicted.shape} and {reference.shape}")
    peak = float(np.ptp(reference)) if data_range is None else float(data_range)
    if not peak > 0:
        raise ShapeError(f"{who}: the reference image is constant: give data_range explicitly")
    return predicted, reference, peak


def psnr(predicted: np.ndarray, reference: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB of ``predicted`` against ``reference``: 10 log10(peak² / MSE).

    Parameters: ``predicted``, ``reference``: arrays of one shape; ``data_range``: the peak
    (default: the reference's max - min). Higher is better; +3 dB halves the MSE.
    """
    predicted, reference, peak = checked_pair(predicted, reference, data_range, "psnr")
    mse = np.mean((predicted - reference) ** 2)  # mean squared error
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def ssim(
    predicted: np.ndarray,
    reference: np.ndarray,
    data_range: float | None = None,
    sigma: float | Sequence[float] = 1.5,
    truncate: float = 3.5,
    k1: float = 0.01,
    k2: float = 0.03,
    mask: np.ndarray | None = None,
) -> float:
    """Mean structural similarity (Wang et al. 2004) of ``predicted`` and ``reference``, 2D or 3D.

    Parameters: ``predicted``, ``reference``: arrays of one shape; ``data_range``: the peak
    L (default: the reference's max - min); ``sigma``: the Gaussian window's standard
    deviation in voxels, one or one per axis (0 leaves an axis out: ``(0, 1.5, 1.5)`` is
    SSIM per axial slice); ``truncate``: the window's radius in sigmas; ``k1``, ``k2``: the
    constants C1 = (k1 L)² and C2 = (k2 L)²; ``mask``: average only over these voxels (e.g.
    the head), not the whole image. 1 for identical images.
    """
    x, y, peak = checked_pair(predicted, reference, data_range, "ssim")
    if mask is not None and np.shape(mask) != x.shape:
        raise ShapeError(f"ssim: the mask has shape {np.shape(mask)}, the images {x.shape}")
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (x.ndim,))

    def local_mean(a: np.ndarray) -> np.ndarray:
        """The Gaussian-weighted mean of ``a`` in the window around every voxel."""
        return ndimage.gaussian_filter(a, sigmas, truncate=truncate, mode="reflect")

    mx, my = local_mean(x), local_mean(y)  # local means
    vx, vy = local_mean(x * x) - mx**2, local_mean(y * y) - my**2  # local variances
    cov = local_mean(x * y) - mx * my  # local covariance
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2  # keep flat windows from giving 0/0 or noise
    luminance = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    contrast_structure = (2 * cov + c2) / (vx + vy + c2)
    radius = [int(truncate * s + 0.5) for s in sigmas]  # average where the window fits
    inner = tuple(slice(r, n - r) for r, n in zip(radius, x.shape, strict=True))
    keep = np.ones(x.shape, bool) if mask is None else np.asarray(mask, bool)
    return float((luminance * contrast_structure)[inner][keep[inner]].mean())
