"""Geometry: one comparison of voxel grids (one tolerance), voxel <-> world, orientation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.errors import DataError, ShapeError
from course_utils.io._constants import GEOMETRY_ATOL, STANDARD_ORIENTATION, PathLike

#: Anything with a header: a SimpleITK image or a header-only reader (io.read_header).
HasGeometry = sitk.Image | sitk.ImageFileReader


def grid(image: HasGeometry) -> dict[str, tuple]:
    """``size``, ``spacing``, ``origin``, ``direction`` (x, y, z order; direction flat, row-major).

    Parameters: ``image``, a SimpleITK image or a header-only reader.
    """
    return {
        "size": tuple(int(v) for v in image.GetSize()),
        "spacing": tuple(float(v) for v in image.GetSpacing()),
        "origin": tuple(float(v) for v in image.GetOrigin()),
        "direction": tuple(float(v) for v in image.GetDirection()),
    }


def geometry_differences(a: HasGeometry, b: HasGeometry,
                         atol: float = GEOMETRY_ATOL) -> list[str]:
    """What differs between two grids, e.g. ``["origin (0, 0, 5) vs (0, 0, 0)"]``; [] if none.

    Parameters: ``a``, ``b``, images or header-only readers; ``atol``, the tolerance
    (mm for spacing and origin, direction cosines unitless).
    """
    ga, gb = grid(a), grid(b)
    if ga["size"] != gb["size"]:
        return [f"size {ga['size']} vs {gb['size']}"]
    return [f"{key} {np.round(ga[key], 4).tolist()} vs {np.round(gb[key], 4).tolist()}"
            for key in ("spacing", "origin", "direction")
            if not np.allclose(ga[key], gb[key], rtol=0, atol=atol)]


def same_geometry(a: HasGeometry, b: HasGeometry, atol: float = GEOMETRY_ATOL) -> bool:
    """True if two images share size, spacing, origin and direction (within ``atol``).

    Parameters: ``a``, ``b``, images or header-only readers; ``atol``, the tolerance.
    """
    return not geometry_differences(a, b, atol)


def check_same_geometry(image: HasGeometry, reference: HasGeometry, image_name: PathLike,
                        reference_name: PathLike) -> None:
    """DataError naming both files unless ``image`` lies on ``reference``'s voxel grid.

    Parameters: ``image``, ``reference``, images or header-only readers; ``image_name``,
    ``reference_name``, their files (or names) for the message.
    """
    differences = geometry_differences(image, reference)
    if differences:
        raise DataError(
            f"{image_name} is not on the voxel grid of {reference_name}: "
            f"{'; '.join(differences)}. The sequences and label of a subject must share one "
            "grid: resample it onto the reference (sitk.Resample(image, reference)), or load "
            "the cohort with standardize=True", path=image_name,
        )


def require_3d(image: HasGeometry, name: PathLike = "image",
               path: PathLike | None = None) -> HasGeometry:
    """``image`` if it is a 3D volume, else ShapeError naming it and saying what to do.

    Parameters: ``image``, a SimpleITK image or header-only reader; ``name``, its file or
    role for the message; ``path``, its file, kept on the error (``err.path``).
    """
    dim = image.GetDimension()
    if dim == 3:
        return image
    if dim == 4:
        hint = ("it holds a series of volumes (time or channels): pick one, e.g. "
                "image[:, :, :, 0], or store each sequence as its own 3D file")
    else:
        hint = (f"it holds a {dim}D image (a single slice?): the course works on 3D "
                "volumes; read the whole series (io.read_dicom_series) or a 3D file")
    raise ShapeError(f"{name} is a {dim}D image of size {image.GetSize()}, not a 3D volume; "
                     f"{hint}", path=path)


# =============================================================================
# Voxel <-> world
# =============================================================================


def geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(origin [3], spacing [3], direction [3, 3])`` of an image as numpy arrays (x, y, z).

    Parameters: ``image``, a SimpleITK image.
    """
    dim = image.GetDimension()
    return (
        np.asarray(image.GetOrigin(), dtype=float),
        np.asarray(image.GetSpacing(), dtype=float),
        np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim),
    )


def voxel_to_world(index: np.ndarray | Sequence[float], image: sitk.Image) -> np.ndarray:
    """World (LPS mm) position of voxel index/indices ``[..., 3]`` (x, y, z order):
    ``origin + direction @ (spacing * index)``. Fractional indices are allowed.

    Parameters: ``index``, one index or an array of them; ``image``, whose header is used.
    """
    origin, spacing, direction = geometry(image)
    index = np.asarray(index, dtype=float)
    if index.shape[-1:] != origin.shape:
        raise ShapeError(f"voxel_to_world: indices must end in an axis of {origin.size} "
                         f"(x, y, z order), got shape {index.shape}")
    # row vectors: (direction @ (spacing * i).T).T == (spacing * i) @ direction.T
    return origin + (index * spacing) @ direction.T


def world_to_voxel(point: np.ndarray | Sequence[float], image: sitk.Image,
                   rounded: bool = False) -> np.ndarray:
    """Continuous voxel index ``[..., 3]`` of world point(s): ``direction^-1 (p - origin) / spacing``.

    Parameters: ``point``, LPS mm, one or an array; ``image``, whose header is used;
    ``rounded``, return the nearest integer index (as ``TransformPhysicalPointToIndex``), int64.
    """
    origin, spacing, direction = geometry(image)
    point = np.asarray(point, dtype=float)
    if point.shape[-1:] != origin.shape:
        raise ShapeError(f"world_to_voxel: points must end in an axis of {origin.size} "
                         f"(x, y, z mm), got shape {point.shape}")
    index = np.linalg.solve(direction, (point - origin).reshape(-1, origin.size).T).T
    index = (index / spacing).reshape(point.shape)
    if rounded:
        return np.floor(index + 0.5).astype(np.int64)
    return index


def affine_lps(image: sitk.Image) -> np.ndarray:
    """The 4x4 voxel->world (LPS) matrix ``[[direction * spacing, origin], [0, 0, 0, 1]]``.

    Parameters: ``image``, a SimpleITK image.
    """
    origin, spacing, direction = geometry(image)
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing  # scales the columns
    affine[:3, 3] = origin
    return affine


#: Multiply LPS coordinates by this to get RAS (and back): x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_ras(image: sitk.Image) -> np.ndarray:
    """The NIfTI/nibabel affine (voxel -> RAS mm) of a SimpleITK image. Parameters: ``image``."""
    return LPS_TO_RAS @ affine_lps(image)


def lps_to_ras(points: np.ndarray | Sequence[float]) -> np.ndarray:
    """Flip the signs of x and y: ITK's LPS millimetres <-> NIfTI's RAS millimetres.

    Parameters: ``points``, ``[..., 3]`` coordinates.
    """
    points = np.array(points, dtype=float)
    points[..., :2] *= -1
    return points


ras_to_lps = lps_to_ras


# =============================================================================
# Orientation
# =============================================================================


def orientation_code(image: sitk.Image | Sequence[float]) -> str:
    """Three-letter code of where the voxel axes point, e.g. ``"LPS"`` (x to Left, y to
    Posterior, z to Superior) or ``"RAS"``.

    Parameters: ``image``, an image (3D) or a flat 3x3 direction matrix.
    """
    direction: Any = image.GetDirection() if isinstance(image, sitk.Image) else image
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        [float(v) for v in direction])


def reorient(image: sitk.Image, orientation: str = STANDARD_ORIENTATION) -> sitk.Image:
    """Permute/flip voxel axes so they point the ``orientation`` way; the world is unchanged.

    Parameters: ``image``, a 3D image; ``orientation``, a 3-letter code such as ``"LPS"``.
    """
    from course_utils import preprocessing

    return preprocessing.reorient(image, orientation)
