"""Data augmentation for 3D volumes (lesson 04): intensity and spatial, reproducible from a seed.

Arrays use the course layout: images ``[z, y, x]`` or ``[z, y, x, C]`` (float),
labels ``[z, y, x]`` (integers). In a volume reoriented to LPS, axis 2 (x) runs
left-right, the axis along which a brain is roughly symmetric.

Every random function takes a ``numpy.random.Generator`` (``rng``) and draws
ONE set of parameters that it applies to the image and its labels alike;
labels are always resampled with nearest neighbour (order 0), so no new label
values appear. The numpy functions wrap scipy.ndimage; :func:`map_dataset`
runs any of them on the fly inside ``tf.data`` with parallel calls.

Augmentation signatures:
- intensity: ``f(image, rng, **options) -> image``;
- spatial:   ``f(image, label, rng, **options) -> (image, label)``;
- a pipeline for :func:`map_dataset`: ``f(image, label, rng) -> (image, label)``
  (build one with :func:`compose`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import ndimage

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


def _check_rng(rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            "pass a numpy random Generator as rng, e.g. rng = np.random.default_rng(42) "
            f"(got {type(rng).__name__}); it makes every draw reproducible"
        )
    return rng


def _per_channel(image: Array, fn: Callable[[Array], Array]) -> Array:
    """Apply a 3D function to each channel of a [z, y, x] or [z, y, x, C] image."""
    if image.ndim == 3:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)


# =============================================================================
# Intensity augmentations (image only; labels unchanged)
# =============================================================================


def gaussian_noise(image: Array, rng: np.random.Generator, sigma: float = 0.05) -> Array:
    """Add zero-mean Gaussian noise whose standard deviation is ``sigma`` x the image's std."""
    rng = _check_rng(rng)
    image = np.asarray(check_intensity_image(image), dtype=np.float32)
    scale = np.float32(float(sigma) * float(image.std()))
    return image + rng.standard_normal(image.shape, dtype=np.float32) * scale


def random_offset(image: Array, rng: np.random.Generator, max_offset: float = 0.1) -> Array:
    """Add one random offset per channel, uniform in +-``max_offset`` x the channel's std."""
    rng = _check_rng(rng)
    image = np.asarray(check_intensity_image(image), dtype=np.float32)
    n_channels = image.shape[-1] if image.ndim == 4 else 1
    offsets = rng.uniform(-max_offset, max_offset, n_channels)
    std = np.array([image[..., c].std() for c in range(n_channels)]) if image.ndim == 4 \
        else np.array([image.std()])
    shift = (offsets * std).astype(np.float32)
    return (image + (shift if image.ndim == 4 else shift[0])).astype(np.float32)


def gamma_contrast(
    image: Array, rng: np.random.Generator, gamma_range: tuple[float, float] = (0.7, 1.5)
) -> Array:
    """Change contrast with a random gamma: rescale to [0, 1], raise to gamma, map back.

    One gamma (log-uniform in ``gamma_range``) for all channels; each channel
    keeps its own minimum and maximum, so the value range does not change.
    """
    rng = _check_rng(rng)
    low, high = gamma_range
    if not 0 < low <= high:
        raise ConfigError(f"gamma_range must be 0 < low <= high, got {gamma_range}")
    gamma = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    image = np.asarray(check_intensity_image(image), dtype=np.float32)

    def one(x: Array) -> Array:
        lo, hi = float(x.min()), float(x.max())
        if hi - lo < 1e-12:
            return x.copy()
        return ((((x - lo) / (hi - lo)) ** gamma) * (hi - lo) + lo).astype(np.float32)

    return _per_channel(image, one)


def bias_field(
    image: Array, rng: np.random.Generator, strength: float = 0.3, order: int = 3
) -> Array:
    """Multiply by a smooth random field exp(polynomial of degree ``order`` in x, y, z).

    This imitates the slow intensity inhomogeneity of MR coils; the polynomial
    coefficients are uniform in +-``strength``, coordinates run over [-1, 1].
    One field for all channels.
    """
    rng = _check_rng(rng)
    image = np.asarray(check_intensity_image(image), dtype=np.float32)
    shape = image.shape[:3]
    z, y, x = (np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape)
    log_field = np.zeros(shape, dtype=np.float32)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            for k in range(order + 1 - i - j):
                c = np.float32(rng.uniform(-strength, strength))
                log_field += c * (z[:, None, None] ** i) * (y[None, :, None] ** j) * (
                    x[None, None, :] ** k
                )
    field = np.exp(log_field)
    return (image * (field[..., None] if image.ndim == 4 else field)).astype(np.float32)


# =============================================================================
# Spatial augmentations (image and labels with the same draw)
# =============================================================================


def flip_lr(image: Array, label: Array | None = None, axis: int = 2) -> Pair:
    """Mirror image and labels along ``axis`` (2 = x = left-right in the course's layout)."""
    _spatial_shape(image, label)
    if axis not in (0, 1, 2):
        raise ConfigError(f"axis must be a spatial axis 0, 1 or 2 ([z, y, x]), got {axis}")
    flipped = np.flip(np.asarray(image), axis=axis).copy()
    if label is None:
        return flipped, None
    return flipped, np.flip(np.asarray(label), axis=axis).copy()


def random_flip(
    image: Array, label: Array | None, rng: np.random.Generator, axis: int = 2, p: float = 0.5
) -> Pair:
    """Flip along ``axis`` with probability ``p`` (image and labels together)."""
    rng = _check_rng(rng)
    _spatial_shape(image, label)
    if rng.uniform() < p:
        return flip_lr(image, label, axis=axis)
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
    """Rotation about the z, y and x axes (in [z, y, x] index space), composed."""
    rz, ry, rx = angles_rad
    cz, sz, cy, sy, cx, sx = (np.cos(rz), np.sin(rz), np.cos(ry), np.sin(ry),
                              np.cos(rx), np.sin(rx))
    about_z = np.array([[1, 0, 0], [0, cz, -sz], [0, sz, cz]])  # turns the y-x plane
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])  # turns the z-x plane
    about_x = np.array([[cx, -sx, 0], [sx, cx, 0], [0, 0, 1]])  # turns the z-y plane
    return about_z @ about_y @ about_x


def rotate(image: Array, label: Array | None, degrees: Sequence[float]) -> Pair:
    """Rotate about the volume centre by ``degrees`` = (about z, about y, about x), in voxel space.

    Assumes (near-)isotropic voxels, as after resample_isotropic.
    """
    shape = _spatial_shape(image, label)
    check_intensity_image(image)  # labels in the image slot would be interpolated linearly
    matrix = _rotation_matrix(np.deg2rad(np.asarray(degrees, dtype=float)))
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    # output voxel q samples the input at R^T (q - c) + c (rotation of the content by R)
    inverse, offset = matrix.T, centre - matrix.T @ centre

    def one(x: Array, order: int) -> Array:
        return ndimage.affine_transform(x, inverse, offset=offset, order=order, mode="nearest")

    out_image = _per_channel(np.asarray(image, dtype=np.float32), lambda x: one(x, 1))
    return out_image, None if label is None else one(np.asarray(label), 0)


def random_rotation(
    image: Array, label: Array | None, rng: np.random.Generator,
    max_degrees: float | Sequence[float] = (10.0, 5.0, 5.0),
) -> Pair:
    """Rotate by angles uniform in +-``max_degrees`` (about z, y, x); labels nearest neighbour."""
    rng = _check_rng(rng)
    limits = np.broadcast_to(np.asarray(max_degrees, dtype=float), (3,))
    return rotate(image, label, rng.uniform(-limits, limits))


def upsample_cubic(coarse: Array, shape: Sequence[int]) -> Array:
    """Cubic-spline upsampling of a small 3D grid to ``shape``; equals ``ndimage.zoom(order=3,
    grid_mode=True, mode="nearest")`` but is applied one axis at a time (much faster)."""
    out = np.asarray(coarse, dtype=np.float32)
    for axis, n in enumerate(shape):
        m = out.shape[axis]
        # the 1D zoom is linear: zooming the identity gives its (n x m) matrix
        weights = ndimage.zoom(np.eye(m, dtype=np.float64), (n / m, 1), order=3,
                               mode="nearest", grid_mode=True).astype(np.float32)
        out = np.moveaxis(np.tensordot(weights, out, axes=([1], [axis])), 0, axis)
    return out


def elastic(
    image: Array, label: Array | None, rng: np.random.Generator,
    strength: float = 2.0, control_points: int = 5,
) -> Pair:
    """Random elastic deformation: smooth displacements of up to a few voxels.

    Displacements are drawn on a coarse ``control_points``^3 grid (normal,
    standard deviation ``strength`` voxels) and interpolated with cubic splines
    to every voxel; image linear, labels nearest neighbour. ``strength=0`` is
    the identity.
    """
    rng = _check_rng(rng)
    shape = _spatial_shape(image, label)
    check_intensity_image(image)  # labels in the image slot would be interpolated linearly
    if strength < 0 or control_points < 2:
        raise ConfigError("elastic needs strength >= 0 and control_points >= 2")
    coarse = rng.normal(0.0, float(strength), (3, *(control_points,) * 3)).astype(np.float32)
    displacement = np.stack([upsample_cubic(c, shape) for c in coarse])
    coords = np.indices(shape, dtype=np.float32) + displacement
    return _resample(image, label, coords)


def crop(image: Array, label: Array | None, corner: Sequence[int], size: Sequence[int]) -> Pair:
    """Cut the block ``[corner, corner + size)`` out of image and labels."""
    sl = tuple(slice(int(c), int(c) + int(s)) for c, s in zip(corner, size, strict=True))
    out_label = None if label is None else np.asarray(label)[sl].copy()
    return np.asarray(image)[sl].copy(), out_label


def random_crop(
    image: Array, label: Array | None, size: int | Sequence[int], rng: np.random.Generator
) -> Pair:
    """Crop a random block of ``size`` voxels ([z, y, x], or one int for a cube)."""
    rng = _check_rng(rng)
    shape = _spatial_shape(image, label)
    size = tuple(int(s) for s in np.broadcast_to(np.asarray(size), (3,)))
    if any(s < 1 or s > n for s, n in zip(size, shape, strict=True)):
        raise ShapeError(
            f"crop size {size} does not fit in a volume of shape {shape}; choose a size "
            "no larger than the volume (or pad the volume first with preprocessing.crop_or_pad)"
        )
    corner = [int(rng.integers(0, n - s + 1)) for n, s in zip(shape, size, strict=True)]
    return crop(image, label, corner, size)


# =============================================================================
# Composition and tf.data
# =============================================================================

#: Every augmentation by name, in the gallery's order: (kind, function).
AUGMENTATIONS: dict[str, tuple[str, Callable[..., Any]]] = {
    "gaussian_noise": ("intensity", gaussian_noise),
    "random_offset": ("intensity", random_offset),
    "gamma_contrast": ("intensity", gamma_contrast),
    "bias_field": ("intensity", bias_field),
    "random_flip": ("spatial", random_flip),
    "random_rotation": ("spatial", random_rotation),
    "elastic": ("spatial", elastic),
    "random_crop": ("spatial", random_crop),
}


def compose(*steps: Callable[..., Any] | tuple[Callable[..., Any], dict]) -> Callable[..., Pair]:
    """Chain augmentations into one ``f(image, label, rng) -> (image, label)``.

    Each step is a function (or ``(function, options)``) with an intensity or a
    spatial signature (see the module docstring); all draws come from the one
    ``rng`` in order, so a pipeline is reproducible from its seed.
    """
    resolved: list[tuple[str, Callable[..., Any], dict]] = []
    known = {fn: kind for kind, fn in AUGMENTATIONS.values()}
    for step in steps:
        fn, options = (step if isinstance(step, tuple) else (step, {}))
        kind = known.get(fn)
        if kind is None:
            raise ConfigError(
                f"compose() does not know {getattr(fn, '__name__', fn)!r}; use the functions in "
                f"augmentation.AUGMENTATIONS: {', '.join(AUGMENTATIONS)}"
            )
        resolved.append((kind, fn, dict(options)))

    def pipeline(image: Array, label: Array | None, rng: np.random.Generator) -> Pair:
        for kind, fn, options in resolved:
            if kind == "intensity":
                image = fn(image, rng, **options)
            else:
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
    and every epoch of a repeated dataset gets new draws. ``tf.numpy_function``
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


def measure_cost(
    image: Array, label: Array, repeats: int = 3, seed: int = 0,
    crop_size: int | Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Seconds per volume of each augmentation in :data:`AUGMENTATIONS` (median of ``repeats``).

    One row per augmentation: name, kind, milliseconds per volume, and volumes
    per second on one core. Used by ``benchmarks/augmentation_cost.py`` and
    notebook 04 (timing lives here, never in tests).
    """
    import time

    rng = np.random.default_rng(seed)
    shape = _spatial_shape(image, label)
    if crop_size is None:
        crop_size = tuple(max(1, n // 2) for n in shape)
    rows = []
    for name, (kind, fn) in AUGMENTATIONS.items():
        times = []
        for _ in range(max(1, int(repeats))):
            start = time.perf_counter()
            if kind == "intensity":
                fn(image, rng)
            elif name == "random_crop":
                fn(image, label, crop_size, rng)
            elif name == "random_flip":
                fn(image, label, rng, p=1.0)
            else:
                fn(image, label, rng)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        rows.append({"augmentation": name, "kind": kind, "ms_per_volume": 1000 * seconds,
                     "volumes_per_s": 1.0 / max(seconds, 1e-9)})
    return rows
