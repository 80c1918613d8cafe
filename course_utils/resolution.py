"""Changing a volume's resolution: centre crops to a multiple, block averages, trilinear upsampling.

:func:`downsample` averages disjoint blocks; lesson 09 uses it to keep big cohorts within
a small memory. The degradation that super-resolution learns to undo (lesson 10) is
DLTK's overlapping average pool, ``networks.super_resolution.low_resolution``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from course_utils.errors import ConfigError, ShapeError


def crop_to_multiple(images: np.ndarray, multiple: int) -> np.ndarray:
    """Centre-crop the spatial axes of ``images`` [N, z, y, x, C] to a multiple of ``multiple``."""
    images = np.asarray(images)
    if images.ndim != 5:
        raise ShapeError(f"crop_to_multiple wants [N, z, y, x, C], got shape {images.shape}")
    slices = [slice(None)]
    for n in images.shape[1:4]:
        keep = n - n % multiple
        if keep == 0:
            raise ShapeError(
                f"a spatial size of {n} voxels is smaller than {multiple}; use larger volumes"
            )
        start = (n - keep) // 2
        slices.append(slice(start, start + keep))
    return images[tuple(slices) + (slice(None),)]


def downsample(volume: np.ndarray, factor: int = 4) -> np.ndarray:
    """Average disjoint blocks of ``factor``³ voxels of a [z, y, x] or [z, y, x, C] volume.

    Parameters: ``volume``; ``factor``: the block size along each spatial axis.
    """
    volume = np.asarray(volume, dtype="float32")
    factor = int(factor)
    if factor < 1:
        raise ConfigError(f"the downsampling factor must be a positive integer, got {factor}")
    if volume.ndim not in (3, 4):
        raise ShapeError(f"downsample wants [z, y, x] or [z, y, x, C], got shape {volume.shape}")
    for axis, n in zip("zyx", volume.shape[:3], strict=True):
        if n % factor:
            lower, upper = n - n % factor, n - n % factor + factor
            raise ShapeError(
                f"axis {axis} has {n} voxels, not divisible by the factor {factor}; crop it to "
                f"{lower} or pad it to {upper} voxels first "
                f"(applications.crop_to_multiple(images, {factor}) crops a batch)"
            )
    z, y, x = (n // factor for n in volume.shape[:3])
    rest = volume.shape[3:]
    blocks = volume.reshape(z, factor, y, factor, x, factor, *rest)
    return blocks.mean(axis=(1, 3, 5)).astype("float32")


def upsample_linear(volume: np.ndarray, factor: int = 4) -> np.ndarray:
    """Trilinear upsampling of a [z, y, x] or [z, y, x, C] volume by ``factor`` (scipy.ndimage)."""
    volume = np.asarray(volume, dtype="float32")
    zoom = (factor,) * 3 + (1,) * (volume.ndim - 3)
    return ndimage.zoom(volume, zoom, order=1, grid_mode=True, mode="nearest").astype("float32")
