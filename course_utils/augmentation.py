"""Data augmentation for 3D volumes (lesson 04): intensity and spatial, reproducible from a seed.

Arrays use the course layout: images ``[z, y, x]`` or ``[z, y, x, C]`` (float),
labels ``[z, y, x]`` (integers). In a volume reoriented to LPS, axis 2 (x) runs
left-right, the axis along which a brain is roughly symmetric.

One contract for every random augmentation::

    random_x(image, label, rng, *, option=...) -> (image, label)

``label`` may be ``None``; options are keyword-only. Each one is split in two
(as TorchIO's ``get_params`` and MONAI's ``randomize``): ``draw_x(rng, ...)``
draws the parameters from a ``numpy.random.Generator`` and nothing else, and
the deterministic ``x(image, label, params)`` applies them to the image and its
labels alike; labels are resampled with nearest neighbour (order 0), so no new
label values appear. Rotations and elastic displacements work in physical space:
give the voxel ``spacing`` (z, y, x in mm) and angles and millimetres stay
correct on anisotropic voxels. :func:`compose` chains augmentations into one
``f(image, label, rng)``; :func:`map_dataset` runs it on the fly inside ``tf.data``.
"""

# Longer than the course's ~450 lines per module on purpose: lesson 04 points to one file
# that holds each augmentation as its draw, its deterministic transform and its random
# wrapper side by side (8 x 3 short functions); splitting it would scatter that picture.

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.polynomial import polynomial
from scipy import ndimage

from course_utils import checks
from course_utils.errors import ConfigError, ShapeError
from course_utils.preprocessing import check_intensity_image, check_label_map

Array = np.ndarray
Pair = tuple[Array, Array | None]


def _spatial_shape(image: Array, label: Array | None) -> tuple[int, int, int]:
    """The [z, y, x] shape of an image/label pair, checking that they match."""
    image = np.asarray(image)
    if image.ndim not in (3, 4):
        raise ShapeError(
            f"image must be [z, y, x] or [z, y, x, C], got shape {image.shape}"
        )
    shape = tuple(image.shape[:3])
    if label is not None:
        check_label_map(label)  # an intensity image passed as labels is an error
    if label is not None and tuple(np.shape(label)) != shape:
        raise ShapeError(
            f"label shape {np.shape(label)} does not match the image's spatial shape {shape}; "
            "pass the label map [z, y, x] that belongs to this image"
        )
    return shape


def _intensity(image: Array, label: Array | None) -> Array:
    """Check an image/label pair and return the image as float32 (refusing a label map)."""
    _spatial_shape(image, label)
    return np.asarray(check_intensity_image(image), dtype=np.float32)


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            "pass a numpy random Generator as rng, e.g. rng = np.random.default_rng(42) "
            f"(got {type(rng).__name__}); it makes every draw reproducible", name="rng",
        )
    return rng


def _three_numbers(value: Any, name: str, **bounds: Any) -> Array:
    """One number or three (z, y, x), each checked by ``checks.number`` -> float array (3,)."""
    values = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    if len(values) not in (1, 3):
        raise ConfigError(f"{name} must be one number or three (z, y, x), got {value!r}",
                          name=name)
    if len(values) == 1:
        values = values * 3
    return np.array([checks.number(v, name, **bounds) for v in values])


def _spacing(spacing: Any) -> Array:
    """Voxel spacing (z, y, x) in mm, each > 0; one number means isotropic voxels."""
    return _three_numbers(spacing, "spacing", minimum=0.0, open_min=True)


def _per_channel(image: Array, fn: Callable[[Array], Array]) -> Array:
    """Apply a 3D function to each channel of a [z, y, x] or [z, y, x, C] image."""
    if image.ndim == 3:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)


# =============================================================================
# Intensity augmentations (labels pass through unchanged)
# =============================================================================


def draw_noise(rng: np.random.Generator, shape: Sequence[int]) -> Array:
    """Standard normal noise of ``shape`` (the image's shape), float32, from ``rng``."""
    return _check_rng(rng).standard_normal(tuple(shape), dtype=np.float32)


def add_noise(image: Array, label: Array | None, noise: Array, *, sigma: float = 0.05) -> Pair:
    """Add ``noise`` (standard normal, the image's shape) scaled to ``sigma`` x the image's std.

    Parameters: image, label (unchanged, may be None); noise from :func:`draw_noise`;
    sigma >= 0, the noise's standard deviation as a fraction of the image's.
    """
    image = _intensity(image, label)
    sigma = checks.number(sigma, "sigma", minimum=0.0)
    if np.shape(noise) != image.shape:
        raise ShapeError(f"noise shape {np.shape(noise)} is not the image's {image.shape}")
    return image + np.asarray(noise, np.float32) * np.float32(sigma * float(image.std())), label


def gaussian_noise(image: Array, label: Array | None, rng: np.random.Generator, *,
                   sigma: float = 0.05) -> Pair:
    """Random zero-mean Gaussian noise: :func:`draw_noise`, then :func:`add_noise`.

    Parameters: image [z, y, x(, C)]; label (returned unchanged, may be None);
    rng, a numpy Generator; sigma >= 0, the noise's std as a fraction of the image's.
    """
    return add_noise(image, label, draw_noise(rng, np.shape(image)), sigma=sigma)


def draw_offset(rng: np.random.Generator, n_channels: int, *, max_offset: float = 0.1) -> Array:
    """One offset per channel, uniform in +-``max_offset`` (a fraction of the channel's std).

    Parameters: rng, a numpy Generator; n_channels >= 1; max_offset >= 0.
    """
    max_offset = checks.number(max_offset, "max_offset", minimum=0.0)
    n_channels = checks.integer(n_channels, "n_channels", minimum=1)
    return _check_rng(rng).uniform(-max_offset, max_offset, n_channels)


def add_offset(image: Array, label: Array | None, offsets: Sequence[float]) -> Pair:
    """Add ``offsets[c]`` x channel c's std to each channel (one offset for a [z, y, x] image).

    Parameters: image; label (returned unchanged, may be None); offsets, from :func:`draw_offset`.
    """
    image = _intensity(image, label)
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
                 for g in _pair_of(gamma_range, "gamma_range"))
    if low > high:
        raise ConfigError(f"gamma_range must be (low, high) with low <= high, got {gamma_range}",
                          name="gamma_range")
    return float(np.exp(_check_rng(rng).uniform(np.log(low), np.log(high))))


def _pair_of(value: Any, name: str) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or np.size(value) != 2:
        raise ConfigError(f"{name} must be two numbers (low, high), got {value!r}", name=name)
    low, high = np.asarray(value, dtype=object).ravel().tolist()
    return low, high


def adjust_gamma(image: Array, label: Array | None, gamma: float) -> Pair:
    """Rescale each channel to [0, 1], raise to ``gamma`` (> 0), map back to its own range.

    Parameters: image; label (returned unchanged, may be None); gamma, from :func:`draw_gamma`.
    """
    image = _intensity(image, label)
    gamma = checks.number(gamma, "gamma", minimum=0.0, open_min=True)

    def one(x: Array) -> Array:
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1e-12:
            return x.copy()
        return ((((x - lo) / (hi - lo)) ** gamma) * (hi - lo) + lo).astype(np.float32)

    return _per_channel(image, one), label


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
    coefficients[keep] = _check_rng(rng).uniform(-strength, strength, int(keep.sum()))
    return coefficients


def apply_bias_field(image: Array, label: Array | None, coefficients: Array) -> Pair:
    """Multiply every channel by exp(sum c[i, j, k] z^i y^j x^k), coordinates in [-1, 1].

    Parameters: image; label (returned unchanged, may be None); coefficients, the
    array ``c`` from :func:`draw_bias_field` (numpy's ``polygrid3d`` evaluates it).
    """
    image = _intensity(image, label)
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


# =============================================================================
# Spatial augmentations (image and labels with the same draw)
# =============================================================================


def _axis(axis: Any) -> int:
    """A spatial axis of [z, y, x]: 0, 1 or 2."""
    return checks.integer(axis, "axis", minimum=0, maximum=2)


def flip_lr(image: Array, label: Array | None = None, axis: int = 2) -> Pair:
    """Mirror ``image`` and ``label`` (may be None) along ``axis`` (2 = x = left-right)."""
    _spatial_shape(image, label)
    axis = _axis(axis)
    flipped = np.flip(np.asarray(image), axis=axis).copy()
    return flipped, None if label is None else np.flip(np.asarray(label), axis=axis).copy()


def draw_flip(rng: np.random.Generator, *, p: float = 0.5) -> bool:
    """True with probability ``p`` (in [0, 1]), drawn from ``rng``."""
    p = checks.number(p, "p", minimum=0.0, maximum=1.0)
    return bool(_check_rng(rng).uniform() < p)


def random_flip(image: Array, label: Array | None, rng: np.random.Generator, *,
                axis: int = 2, p: float = 0.5) -> Pair:
    """Flip image and labels along ``axis`` (0, 1 or 2) with probability ``p``, drawn from ``rng``.

    Parameters: image; label (may be None); rng; axis (2 = left-right); p in [0, 1].
    """
    axis = _axis(axis)
    if draw_flip(rng, p=p):
        return flip_lr(image, label, axis=axis)
    _spatial_shape(image, label)
    return np.array(image, copy=True), None if label is None else np.array(label, copy=True)


def _resample(image: Array, label: Array | None, coords: Array) -> Pair:
    """Sample image (linear, edge values repeated) and labels (nearest) at voxel coordinates."""
    out_image = _per_channel(
        np.asarray(image, dtype=np.float32),
        lambda x: ndimage.map_coordinates(x, coords, order=1, mode="nearest").astype(np.float32),
    )
    if label is None:
        return out_image, None
    label = np.asarray(label)
    out_label = ndimage.map_coordinates(label, coords, order=0, mode="nearest")
    return out_image, out_label.astype(label.dtype)


def _rotation_matrix(angles_rad: Sequence[float]) -> Array:
    """Rotation about the z, y and x axes (in [z, y, x] coordinates), composed."""
    rz, ry, rx = angles_rad
    cz, sz, cy, sy, cx, sx = (np.cos(rz), np.sin(rz), np.cos(ry), np.sin(ry),
                              np.cos(rx), np.sin(rx))
    about_z = np.array([[1, 0, 0], [0, cz, -sz], [0, sz, cz]])  # turns the y-x plane
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])  # turns the z-x plane
    about_x = np.array([[cx, -sx, 0], [sx, cx, 0], [0, 0, 1]])  # turns the z-y plane
    return about_z @ about_y @ about_x


def rotate(image: Array, label: Array | None, degrees: Sequence[float], *,
           spacing: float | Sequence[float] = 1.0) -> Pair:
    """Rotate about the volume centre by ``degrees`` = (about z, about y, about x), in physical space.

    Parameters: image (linear interpolation), label (nearest neighbour, may be
    None); degrees, three angles; spacing, the voxel size (z, y, x) in mm (one
    number: isotropic). The rotation turns millimetres, not voxel indices, so a
    sphere stays a sphere on anisotropic voxels.
    """
    shape = _spatial_shape(image, label)
    check_intensity_image(image)  # labels in the image slot would be interpolated linearly
    scale = _spacing(spacing)
    matrix = _rotation_matrix(np.deg2rad(_three_numbers(degrees, "degrees")))
    # output voxel q samples the input at S^-1 R^T S (q - c) + c, S = diag(spacing): the
    # content turns by R in mm about the centre c
    inverse = (matrix.T * scale[None, :]) / scale[:, None]
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    offset = centre - inverse @ centre

    def one(x: Array, order: int) -> Array:
        return ndimage.affine_transform(x, inverse, offset=offset, order=order, mode="nearest")

    out_image = _per_channel(np.asarray(image, dtype=np.float32), lambda x: one(x, 1))
    return out_image, None if label is None else one(np.asarray(label), 0)


def draw_rotation(rng: np.random.Generator, *,
                  max_degrees: float | Sequence[float] = (10.0, 5.0, 5.0)) -> Array:
    """Three angles (about z, y, x) uniform in +-``max_degrees`` (one number or three, 0..180).

    Parameters: rng, a numpy Generator; max_degrees, the largest angles in degrees.
    """
    limits = _three_numbers(max_degrees, "max_degrees", minimum=0.0, maximum=180.0)
    return _check_rng(rng).uniform(-limits, limits)


def random_rotation(image: Array, label: Array | None, rng: np.random.Generator, *,
                    max_degrees: float | Sequence[float] = (10.0, 5.0, 5.0),
                    spacing: float | Sequence[float] = 1.0) -> Pair:
    """Random rotation in physical space: :func:`draw_rotation`, then :func:`rotate`.

    Parameters: image; label (may be None); rng; max_degrees, the largest angles
    (about z, y, x); spacing, the voxel size (z, y, x) in mm.
    """
    return rotate(image, label, draw_rotation(rng, max_degrees=max_degrees), spacing=spacing)


def upsample_cubic(coarse: Array, shape: Sequence[int]) -> Array:
    """Cubic-spline upsampling of a small 3D grid ``coarse`` to ``shape``.

    Equals ``ndimage.zoom(order=3, grid_mode=True, mode="nearest")`` but is
    applied one axis at a time (much faster).
    """
    out = np.asarray(coarse, dtype=np.float32)
    for axis, n in enumerate(shape):
        m = out.shape[axis]
        # the 1D zoom is linear: zooming the identity gives its (n x m) matrix
        weights = ndimage.zoom(np.eye(m, dtype=np.float64), (n / m, 1), order=3,
                               mode="nearest", grid_mode=True).astype(np.float32)
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [axis])), 0, axis)
    return out


def draw_elastic(rng: np.random.Generator, *, strength: float = 2.0,
                 control_points: int = 5) -> Array:
    """Displacements (z, y, x) in mm on a coarse grid: normal, std ``strength``, shape (3, n, n, n).

    Parameters: rng, a numpy Generator; strength >= 0 (mm); control_points, n >= 2.
    """
    strength = checks.number(strength, "strength", minimum=0.0)
    n = checks.integer(control_points, "control_points", minimum=2)
    return _check_rng(rng).normal(0.0, strength, (3, n, n, n)).astype(np.float32)


def deform(image: Array, label: Array | None, displacement: Array, *,
           spacing: float | Sequence[float] = 1.0) -> Pair:
    """Move voxels by ``displacement`` (3, a, b, c) in mm, upsampled with cubic splines.

    Parameters: image (linear interpolation), label (nearest neighbour, may be
    None); displacement, coarse (z, y, x) displacements in mm spread evenly over
    the volume; spacing, the voxel size (z, y, x) in mm, which turns mm into voxels.
    """
    shape = _spatial_shape(image, label)
    check_intensity_image(image)  # labels in the image slot would be interpolated linearly
    scale = _spacing(spacing)
    displacement = np.asarray(displacement, dtype=np.float32)
    if displacement.ndim != 4 or displacement.shape[0] != 3:
        raise ShapeError(f"displacement must be (3, a, b, c), got {displacement.shape}")
    coords = np.indices(shape, dtype=np.float32)
    for axis in range(3):
        coords[axis] += upsample_cubic(displacement[axis], shape) / np.float32(scale[axis])
    return _resample(image, label, coords)


def elastic(image: Array, label: Array | None, rng: np.random.Generator, *,
            strength: float = 2.0, control_points: int = 5,
            spacing: float | Sequence[float] = 1.0) -> Pair:
    """Random elastic deformation: smooth displacements of about ``strength`` mm.

    Parameters: image, label, rng; strength >= 0, the displacements' standard
    deviation in mm on a ``control_points``^3 grid (>= 2), interpolated with cubic
    splines to every voxel (:func:`draw_elastic`, :func:`deform`); spacing, the
    voxel size (z, y, x) in mm. ``strength=0`` is the identity.
    """
    displacement = draw_elastic(rng, strength=strength, control_points=control_points)
    return deform(image, label, displacement, spacing=spacing)


def crop(image: Array, label: Array | None, corner: Sequence[int], size: Sequence[int]) -> Pair:
    """Cut the block ``[corner, corner + size)`` (z, y, x) of ``image`` and ``label`` (or None)."""
    sl = tuple(slice(int(c), int(c) + int(s)) for c, s in zip(corner, size, strict=True))
    out_label = None if label is None else np.asarray(label)[sl].copy()
    return np.asarray(image)[sl].copy(), out_label


def draw_crop(rng: np.random.Generator, shape: Sequence[int], *,
              size: int | Sequence[int]) -> tuple[int, int, int]:
    """A random corner for a block of ``size`` (one int or z, y, x) inside a volume of ``shape``.

    Parameters: rng, a numpy Generator; shape, the volume's (z, y, x); size, the block's.
    """
    size = checks.triple(size, "size")
    if any(s > n for s, n in zip(size, shape, strict=True)):
        raise ShapeError(
            f"crop size {size} does not fit in a volume of shape {tuple(shape)}; choose a size "
            "no larger than the volume (or pad the volume first with preprocessing.crop_or_pad)"
        )
    rng = _check_rng(rng)
    return tuple(int(rng.integers(0, n - s + 1)) for n, s in zip(shape, size, strict=True))


def random_crop(image: Array, label: Array | None, rng: np.random.Generator, *,
                size: int | Sequence[int]) -> Pair:
    """Crop a random block of ``size`` voxels out of image and labels.

    Parameters: image; label (may be None); rng; size, one int for a cube or
    (z, y, x). :func:`draw_crop` draws the corner, :func:`crop` cuts.
    """
    size = checks.triple(size, "size")
    return crop(image, label, draw_crop(rng, _spatial_shape(image, label), size=size), size)


# =============================================================================
# Composition, tf.data and cost
# =============================================================================

#: Every augmentation by name, in the gallery's order: (kind, function).
AUGMENTATIONS: dict[str, tuple[str, Callable[..., Pair]]] = {
    "gaussian_noise": ("intensity", gaussian_noise),
    "random_offset": ("intensity", random_offset),
    "gamma_contrast": ("intensity", gamma_contrast),
    "bias_field": ("intensity", bias_field),
    "random_flip": ("spatial", random_flip),
    "random_rotation": ("spatial", random_rotation),
    "elastic": ("spatial", elastic),
    "random_crop": ("spatial", random_crop),
}


def check_step(fn: Any, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check that ``fn(image, label, rng, **options)`` is a valid call; return the options.

    Parameters: fn, an augmentation; options, its keyword options. An unknown
    option raises ConfigError naming the function and its valid options.
    """
    name = getattr(fn, "__name__", repr(fn))
    if not callable(fn) or not isinstance(options or {}, Mapping):
        raise ConfigError(f"an augmentation step is a function or (function, {{options}}), "
                          f"got {fn!r} with options {options!r}")
    options = dict(options or {})
    params = inspect.signature(fn).parameters.values()
    valid = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    for key in options:
        if key not in valid:
            raise ConfigError(f"{name}() has no option {key!r}; its options are: "
                              f"{', '.join(valid) or 'none'}", name=key)
    required = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    for key in required:
        if key not in options:
            raise ConfigError(f"{name}() needs the option {key!r}: give it as "
                              f"({name}, {{{key!r}: ...}})", name=key)
    try:
        inspect.signature(fn).bind(None, None, None, **options)
    except TypeError as exc:
        raise ConfigError(f"{name} cannot be called as {name}(image, label, rng, **options) "
                          f"({exc}); an augmentation takes (image, label, rng, *, options)",
                          name=name) from None
    return options


def compose(*steps: Callable[..., Pair] | tuple[Callable[..., Pair], dict]) -> Callable[..., Pair]:
    """Chain augmentations into one ``f(image, label, rng) -> (image, label)``.

    Parameters: steps, each a function ``f(image, label, rng, *, options)`` or a
    pair ``(function, {options})``; options are checked at once (:func:`check_step`).
    All draws come from the one ``rng`` in order, so a pipeline is reproducible.
    """
    resolved = [(step[0], check_step(*step)) if isinstance(step, tuple)
                else (step, check_step(step)) for step in steps]

    def pipeline(image: Array, label: Array | None, rng: np.random.Generator) -> Pair:
        for fn, options in resolved:
            image, label = fn(image, label, rng, **options)
        return image, label

    return pipeline


def map_dataset(
    dataset: Any,
    fn: Callable[[Array, Array, np.random.Generator], Pair],
    seed: int = 42,
    num_parallel_calls: int | None = -1,
    image_shape: Sequence[int | None] | None = None,
    label_shape: Sequence[int | None] | None = None,
) -> Any:
    """Run a numpy augmentation ``fn(image, label, rng)`` on the fly over a ``(image, label)`` dataset.

    Each element gets its own generator ``np.random.default_rng([seed, index])``
    from its position in the stream (``dataset.enumerate()``), so results are
    reproducible from ``seed`` even with parallel calls (``-1`` = AUTOTUNE),
    and every epoch of a repeated dataset gets new draws; ``num_parallel_calls``
    is passed to ``Dataset.map``. ``tf.numpy_function``
    forgets static shapes; they are restored from the input (or from
    ``image_shape``/``label_shape`` when ``fn`` changes them, e.g. a crop).
    """
    import tensorflow as tf

    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ConfigError(
            f"map_dataset needs a dataset of (image, label) pairs, got elements {spec}; "
            "map it to pairs first, e.g. dataset.map(lambda d: (d['image'], d['label']))"
        )
    spec_image, spec_label = spec
    out_image_shape = tf.TensorShape(image_shape if image_shape is not None
                                     else spec_image.shape)
    out_label_shape = tf.TensorShape(label_shape if label_shape is not None
                                     else spec_label.shape)
    image_dtype = spec_image.dtype.as_numpy_dtype
    label_dtype = spec_label.dtype.as_numpy_dtype

    def numpy_step(index: Array, image: Array, label: Array) -> tuple[Array, Array]:
        rng = np.random.default_rng([int(seed), int(index)])
        out_image, out_label = fn(image, label, rng)
        return (np.asarray(out_image, dtype=image_dtype),
                np.asarray(out_label, dtype=label_dtype))

    def tf_step(index, pair):
        image, label = pair
        out_image, out_label = tf.numpy_function(
            numpy_step, [index, image, label], [spec_image.dtype, spec_label.dtype],
            stateful=False,
        )
        out_image.set_shape(out_image_shape)
        out_label.set_shape(out_label_shape)
        return out_image, out_label

    parallel = tf.data.AUTOTUNE if num_parallel_calls in (None, -1) else num_parallel_calls
    return dataset.enumerate().map(tf_step, num_parallel_calls=parallel, deterministic=True)


def measure_cost(image: Array, label: Array, options: Mapping[str, Mapping] | None = None, *,
                 repeats: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """Milliseconds per volume of each augmentation in :data:`AUGMENTATIONS` (median of ``repeats``).

    Parameters: image, label, one example; options, per augmentation name its
    keyword options (``random_crop`` needs ``{"size": ...}``); repeats >= 1; seed.
    One row per augmentation: name, kind, ms per volume, volumes per second on
    one core. Used by ``benchmarks/augmentation_cost.py`` and notebook 04.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"measure_cost: unknown augmentation(s) {unknown}; "
                          f"choose from {', '.join(AUGMENTATIONS)}", name="options")
    repeats = checks.integer(repeats, "repeats", minimum=1)
    rng = np.random.default_rng(seed)
    rows = []
    for name, (kind, fn) in AUGMENTATIONS.items():
        step = check_step(fn, options.get(name))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(image, label, rng, **step)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        rows.append({"augmentation": name, "kind": kind, "ms_per_volume": 1000 * seconds,
                     "volumes_per_s": 1.0 / max(seconds, 1e-9)})
    return rows

