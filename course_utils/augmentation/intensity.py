"""Intensity augmentations (lesson 04): noise, offset, gamma contrast, bias field; labels pass through.

Each is a draw of its random parameters, then a deterministic transform (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.polynomial import polynomial

from course_utils import checks
from course_utils.augmentation.core import Array, Pair, check_image, check_rng, pair_of, per_channel
from course_utils.errors import ConfigError, ShapeError


def draw_noise(rng, shape):
    """Standard normal noise of ``shape`` (the image's shape), float32, drawn from ``rng``.

    Parameters: ``rng``: a numpy Generator; ``shape``: the image's shape.
    """
    return check_rng(rng).standard_normal(tuple(shape), dtype=np.float32)


def add_noise(image, label, noise, *, sigma=0.05):
    """Add ``noise`` scaled to ``sigma`` x the image's standard deviation; labels unchanged.

    Parameters: ``image``: [z, y, x(, C)]; ``label``: returned unchanged (may be None);
    ``noise``: from :func:`draw_noise`, the image's shape; ``sigma`` >= 0: the noise's
    standard deviation as a fraction of the image's.
    """
    image = check_image(image, label)  # float32; a label map given as the image is an error
    sigma = checks.number(sigma, "sigma", minimum=0.0)
    if np.shape(noise) != image.shape:
        raise ShapeError(f"noise shape {np.shape(noise)} is not the image's {image.shape}")
    return image + noise * np.float32(sigma * image.std()), label


def gaussian_noise(image, label, rng, *, sigma=0.05):
    """Random zero-mean Gaussian noise: :func:`draw_noise`, then :func:`add_noise`.

    Parameters: ``image``: [z, y, x(, C)]; ``label``: returned unchanged (may be None);
    ``rng``: a numpy Generator; ``sigma`` >= 0: the noise's std as a fraction of the image's.
    """
    return add_noise(image, label, draw_noise(rng, np.shape(image)), sigma=sigma)


def draw_offset(rng: np.random.Generator, n_channels: int, *, max_offset: float = 0.1) -> Array:
    """One offset per channel, uniform in +-``max_offset`` (a fraction of the channel's std).

    Parameters: rng, a numpy Generator; n_channels >= 1; max_offset >= 0.
    """
    max_offset = checks.number(max_offset, "max_offset", minimum=0.0)
    n_channels = checks.integer(n_channels, "n_channels", minimum=1)
    return check_rng(rng).uniform(-max_offset, max_offset, n_channels)


def add_offset(image: Array, label: Array | None, offsets: Sequence[float]) -> Pair:
    """Add ``offsets[c]`` x channel c's std to each channel (one offset for a [z, y, x] image).

    Parameters: image; label (returned unchanged, may be None); offsets, from :func:`draw_offset`.
    """
    image = check_image(image, label)
    channels = image[..., None] if image.ndim == 3 else image
    offsets = np.asarray(offsets, dtype=np.float64).ravel()
    if offsets.size != channels.shape[-1]:
        raise ShapeError(f"{offsets.size} offsets for an image of {channels.shape[-1]} channel(s)")
    shift = (offsets * channels.std(axis=(0, 1, 2))).astype(np.float32)
    return (channels + shift).reshape(image.shape), label


def random_offset(image: Array, label: Array | None, rng: np.random.Generator, *,
                  max_offset: float = 0.1) -> Pair:
    """Random baseline shift per channel, uniform in +-``max_offset`` x the channel's std.

    Parameters: image; label (returned unchanged, may be None); rng; max_offset >= 0.
    """
    n_channels = np.shape(image)[-1] if np.ndim(image) == 4 else 1
    return add_offset(image, label, draw_offset(rng, n_channels, max_offset=max_offset))


def draw_gamma(rng: np.random.Generator, *,
               gamma_range: tuple[float, float] = (0.7, 1.5)) -> float:
    """A gamma log-uniform in ``gamma_range`` = (low, high), 0 < low <= high, drawn from ``rng``."""
    low, high = (checks.number(g, "gamma_range", minimum=0.0, open_min=True)
                 for g in pair_of(gamma_range, "gamma_range"))
    if low > high:
        raise ConfigError(f"gamma_range must be (low, high) with low <= high, got {gamma_range}",
                          name="gamma_range")
    return float(np.exp(check_rng(rng).uniform(np.log(low), np.log(high))))


def adjust_gamma(image: Array, label: Array | None, gamma: float) -> Pair:
    """Rescale each channel to [0, 1], raise to ``gamma`` (> 0), map back to its own range.

    Parameters: image; label (returned unchanged, may be None); gamma, from :func:`draw_gamma`.
    """
    image = check_image(image, label)
    gamma = checks.number(gamma, "gamma", minimum=0.0, open_min=True)

    def one(x: Array) -> Array:
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1e-12:
            return x.copy()
        return ((((x - lo) / (hi - lo)) ** gamma) * (hi - lo) + lo).astype(np.float32)

    return per_channel(image, one), label


def gamma_contrast(image: Array, label: Array | None, rng: np.random.Generator, *,
                   gamma_range: tuple[float, float] = (0.7, 1.5)) -> Pair:
    """Random contrast change: one gamma (:func:`draw_gamma`) for all channels; ranges kept.

    Parameters: image; label (returned unchanged, may be None); rng; gamma_range, (low, high).
    """
    return adjust_gamma(image, label, draw_gamma(rng, gamma_range=gamma_range))


def draw_bias_field(rng: np.random.Generator, *, strength: float = 0.3, order: int = 3) -> Array:
    """Coefficients ``c[i, j, k]`` of z^i y^j x^k, uniform in +-``strength`` where i+j+k <= order.

    Parameters: rng, a numpy Generator; strength >= 0; order, the degree, 0..6.
    """
    strength = checks.number(strength, "strength", minimum=0.0)
    order = checks.integer(order, "order", minimum=0, maximum=6)
    i, j, k = np.indices((order + 1,) * 3)
    keep = i + j + k <= order
    coefficients = np.zeros(keep.shape)
    coefficients[keep] = check_rng(rng).uniform(-strength, strength, int(keep.sum()))
    return coefficients


def apply_bias_field(image: Array, label: Array | None, coefficients: Array) -> Pair:
    """Multiply every channel by exp(sum c[i, j, k] z^i y^j x^k), coordinates in [-1, 1].

    Parameters: image; label (returned unchanged, may be None); coefficients, the
    array ``c`` from :func:`draw_bias_field` (numpy's ``polygrid3d`` evaluates it).
    """
    image = check_image(image, label)
    coefficients = np.asarray(coefficients, dtype=np.float64)
    if coefficients.ndim != 3:
        raise ShapeError(f"bias field coefficients must be c[i, j, k], got {coefficients.shape}")
    z, y, x = (np.linspace(-1.0, 1.0, n) for n in image.shape[:3])
    field = np.exp(polynomial.polygrid3d(z, y, x, coefficients)).astype(np.float32)
    return image * (field[..., None] if image.ndim == 4 else field), label


def bias_field(image: Array, label: Array | None, rng: np.random.Generator, *,
               strength: float = 0.3, order: int = 3) -> Pair:
    """Random MR bias field: a smooth multiplicative field, one for all channels.

    The model: log field = a polynomial of total degree <= ``order`` in the
    normalised coordinates z, y, x in [-1, 1], coefficients uniform in
    +-``strength``; the image is multiplied by its exponential. A low-order
    polynomial is how Van Leemput et al. (1999, "Automated model-based tissue
    classification of MR images of the brain", IEEE TMI 18(10)) model the slow
    inhomogeneity of the coils (added to the log intensities, so it multiplies
    them); NiftyNet's augmentation by Sudre et al. (2017, "Longitudinal
    segmentation of age-related white matter hyperintensities", Medical Image
    Analysis 38) and TorchIO's ``RandomBiasField`` draw it the same way.
    Parameters: image, label (unchanged), rng; strength >= 0; order 0..6.
    """
    return apply_bias_field(image, label, draw_bias_field(rng, strength=strength, order=order))

