"""Checks and array helpers shared by the augmentations (argument checks live here, out of the lessons' way)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

import numpy as np
from scipy import ndimage

from course_utils import checks
from course_utils.errors import ConfigError, ShapeError
from course_utils.preprocessing import check_intensity_image, check_label_map

Array: TypeAlias = np.ndarray
Pair: TypeAlias = tuple[Array, Array | None]


def spatial_shape(image: Array, label: Array | None) -> tuple[int, int, int]:
    """The [z, y, x] shape of an image/label pair, checking that they match (ShapeError if not).

    Parameters: ``image``: [z, y, x] or [z, y, x, C]; ``label``: its [z, y, x] label map, or None.
    """
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



def check_image(image: Array, label: Array | None) -> Array:
    """Check an image/label pair and return the image as float32 (a label map as the image is an error).

    Parameters: ``image``: [z, y, x] or [z, y, x, C]; ``label``: its label map, or None.
    """
    spatial_shape(image, label)
    return np.asarray(check_intensity_image(image), dtype=np.float32)


def check_rng(rng: Any) -> np.random.Generator:
    """``rng`` itself if it is a numpy Generator, else a ConfigError saying how to make one.

    Parameters: ``rng``: the random generator given to an augmentation.
    """
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            "pass a numpy random Generator as rng, e.g. rng = np.random.default_rng(42) "
            f"(got {type(rng).__name__}); it makes every draw reproducible", name="rng",
        )
    return rng



def three_numbers(value: Any, name: str, **bounds: Any) -> Array:
    """One number or three (z, y, x), each checked by ``checks.number`` -> float array (3,).

    Parameters: ``value``: the number(s); ``name``: the argument, for the error;
    ``bounds``: ``checks.number``'s keyword arguments (minimum, maximum...).
    """
    values = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
    if len(values) not in (1, 3):
        raise ConfigError(f"{name} must be one number or three (z, y, x), got {value!r}",
                          name=name)
    if len(values) == 1:
        values = values * 3
    return np.array([checks.number(v, name, **bounds) for v in values])



def check_spacing(spacing: Any) -> Array:
    """Voxel spacing (z, y, x) in mm, each > 0; one number means isotropic voxels.

    Parameters: ``spacing``: one number or three.
    """
    return three_numbers(spacing, "spacing", minimum=0.0, open_min=True)


def per_channel(image: Array, fn: Callable[[Array], Array]) -> Array:
    """Apply a 3D function ``fn`` to each channel of a [z, y, x] or [z, y, x, C] ``image``.

    Parameters: ``image``: the image; ``fn``: maps a [z, y, x] array to another.
    """
    if image.ndim == 3:
        return fn(image)
    return np.stack([fn(image[..., c]) for c in range(image.shape[-1])], axis=-1)



def pair_of(value: Any, name: str) -> tuple[Any, Any]:
    """Two values (low, high) of argument ``name`` from ``value``, else a ConfigError.

    Parameters: ``value``: what was given; ``name``: the argument, for the error.
    """
    if isinstance(value, (str, bytes)) or np.size(value) != 2:
        raise ConfigError(f"{name} must be two numbers (low, high), got {value!r}", name=name)
    low, high = np.asarray(value, dtype=object).ravel().tolist()
    return low, high



def upsample_cubic(coarse: Array, shape: Sequence[int]) -> Array:
    """Cubic-spline upsampling of a small 3D grid ``coarse`` to ``shape``.

    Parameters: ``coarse``: the 3D grid; ``shape``: the output's (z, y, x). Equals ``ndimage.zoom(order=3, grid_mode=True, mode="nearest")`` but is
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

