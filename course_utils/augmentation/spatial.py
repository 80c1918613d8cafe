"""Spatial augmentations (lesson 04): flip, rotation, elastic deformation, crop; image and labels move together.

Labels are resampled with nearest neighbour (order 0), images linearly; rotations and
elastic displacements are in mm (give the voxel ``spacing``, z, y, x).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from course_utils import checks
from course_utils.augmentation.core import (
    Array,
    Pair,
    check_image,
    check_rng,
    check_spacing,
    per_channel,
    spatial_shape,
    three_numbers,
    upsample_cubic,
)
from course_utils.errors import ShapeError
from course_utils.preprocessing import check_intensity_image


def flip_lr(image, label=None, axis=2):
    """Mirror ``image`` and ``label`` together along ``axis`` (2 = x = left-right in LPS).

    Parameters: ``image``: [z, y, x(, C)]; ``label``: [z, y, x] or None; ``axis``: 0, 1 or 2.
    """
    spatial_shape(image, label)  # their shapes must match
    axis = checks.integer(axis, "axis", minimum=0, maximum=2)
    flipped = np.flip(np.asarray(image), axis=axis).copy()
    return flipped, None if label is None else np.flip(np.asarray(label), axis=axis).copy()


def draw_flip(rng, *, p=0.5):
    """True with probability ``p``, drawn from ``rng``.

    Parameters: ``rng``: a numpy Generator; ``p``: the probability of a flip, in [0, 1].
    """
    p = checks.number(p, "p", minimum=0.0, maximum=1.0)
    return bool(check_rng(rng).uniform() < p)


def random_flip(image, label, rng, *, axis=2, p=0.5):
    """Flip image and labels along ``axis`` with probability ``p`` (:func:`draw_flip`).

    Parameters: ``image``; ``label`` (may be None); ``rng``: a numpy Generator;
    ``axis``: 0, 1 or 2 (2 = left-right); ``p``: the probability of a flip.
    """
    axis = checks.integer(axis, "axis", minimum=0, maximum=2)
    if draw_flip(rng, p=p):
        return flip_lr(image, label, axis=axis)
    spatial_shape(image, label)
    return np.array(image, copy=True), None if label is None else np.array(label, copy=True)


def sample_at(image, label, coords):
    """Read ``image`` (linear interpolation) and ``label`` (nearest neighbour) at voxel ``coords``.

    Parameters: ``image``: [z, y, x(, C)]; ``label``: [z, y, x] or None; ``coords``: the
    (z, y, x) positions to read, shape (3, z, y, x). Outside the volume the edge values
    are repeated; nearest neighbour keeps labels whole (no new label values).
    """
    def read(volume, order):
        return ndimage.map_coordinates(volume, coords, order=order, mode="nearest")

    out_image = per_channel(np.asarray(image, dtype=np.float32), lambda x: read(x, 1))
    return out_image, None if label is None else read(np.asarray(label), 0)


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
    shape = spatial_shape(image, label)
    check_intensity_image(image)  # labels in the image slot would be interpolated linearly
    scale = check_spacing(spacing)
    matrix = _rotation_matrix(np.deg2rad(three_numbers(degrees, "degrees")))
    # output voxel q samples the input at S^-1 R^T S (q - c) + c, S = diag(spacing): the
    # content turns by R in mm about the centre c
    inverse = (matrix.T * scale[None, :]) / scale[:, None]
    centre = (np.asarray(shape, dtype=float) - 1) / 2
    offset = centre - inverse @ centre

    def one(x: Array, order: int) -> Array:
        return ndimage.affine_transform(x, inverse, offset=offset, order=order, mode="nearest")

    out_image = per_channel(np.asarray(image, dtype=np.float32), lambda x: one(x, 1))
    return out_image, None if label is None else one(np.asarray(label), 0)


def draw_rotation(rng: np.random.Generator, *,
                  max_degrees: float | Sequence[float] = (10.0, 5.0, 5.0)) -> Array:
    """Three angles (about z, y, x) uniform in +-``max_degrees`` (one number or three, 0..180).

    Parameters: rng, a numpy Generator; max_degrees, the largest angles in degrees.
    """
    limits = three_numbers(max_degrees, "max_degrees", minimum=0.0, maximum=180.0)
    return check_rng(rng).uniform(-limits, limits)


def random_rotation(image: Array, label: Array | None, rng: np.random.Generator, *,
                    max_degrees: float | Sequence[float] = (10.0, 5.0, 5.0),
                    spacing: float | Sequence[float] = 1.0) -> Pair:
    """Random rotation in physical space: :func:`draw_rotation`, then :func:`rotate`.

    Parameters: image; label (may be None); rng; max_degrees, the largest angles
    (about z, y, x); spacing, the voxel size (z, y, x) in mm.
    """
    return rotate(image, label, draw_rotation(rng, max_degrees=max_degrees), spacing=spacing)


def draw_elastic(rng, *, strength=2.0, control_points=5):
    """Displacements (z, y, x) in mm on a coarse grid, normal with std ``strength``: (3, n, n, n).

    Parameters: ``rng``: a numpy Generator; ``strength`` >= 0: their std in mm;
    ``control_points``: n >= 2, the grid points along each axis.
    """
    strength = checks.number(strength, "strength", minimum=0.0)
    n = checks.integer(control_points, "control_points", minimum=2)
    return check_rng(rng).normal(0.0, strength, (3, n, n, n)).astype(np.float32)


def deform(image, label, displacement, *, spacing=1.0):
    """Move voxels by ``displacement`` (3, a, b, c) in mm, upsampled with cubic splines.

    Parameters: ``image``: [z, y, x(, C)], interpolated linearly; ``label``: [z, y, x]
    (nearest neighbour) or None; ``displacement``: coarse (z, y, x) displacements in mm
    spread evenly over the volume; ``spacing``: the voxel size (z, y, x) in mm.
    """
    image = check_image(image, label)  # float32; a label map given as the image is an error
    mm = check_spacing(spacing)
    if np.ndim(displacement) != 4 or np.shape(displacement)[0] != 3:
        raise ShapeError(f"displacement must be (3, a, b, c), got {np.shape(displacement)}")
    shape = image.shape[:3]
    coords = np.indices(shape, dtype=np.float32)  # each output voxel reads at its own position
    for axis in range(3):  # ... plus its displacement, from mm to voxels
        coords[axis] += upsample_cubic(displacement[axis], shape) / np.float32(mm[axis])
    return sample_at(image, label, coords)


def elastic(image, label, rng, *, strength=2.0, control_points=5, spacing=1.0):
    """Random elastic deformation: smooth displacements of about ``strength`` mm.

    Parameters: ``image``, ``label``, ``rng``: as for :func:`deform`, a numpy Generator;
    ``strength`` >= 0: the displacements' std in mm (0: the identity); ``control_points``:
    the coarse grid's points along each axis (>= 2); ``spacing``: voxel size (z, y, x) in mm.
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
    rng = check_rng(rng)
    return tuple(int(rng.integers(0, n - s + 1)) for n, s in zip(shape, size, strict=True))


def random_crop(image: Array, label: Array | None, rng: np.random.Generator, *,
                size: int | Sequence[int]) -> Pair:
    """Crop a random block of ``size`` voxels out of image and labels.

    Parameters: image; label (may be None); rng; size, one int for a cube or
    (z, y, x). :func:`draw_crop` draws the corner, :func:`crop` cuts.
    """
    size = checks.triple(size, "size")
    return crop(image, label, draw_crop(rng, spatial_shape(image, label), size=size), size)

