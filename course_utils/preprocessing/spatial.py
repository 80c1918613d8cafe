"""Spatial standardisation (lesson 03): reorientation, isotropic resampling, cropping/padding.

``resampled_size``, ``smooth_before_downsampling`` and ``resample_isotropic`` are taught in
notebook 03 (tools/taught.py keeps the two copies identical); the checks they call are plumbing.
Everything takes and returns a ``SimpleITK.Image`` so that the header travels with the voxels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from course_utils import checks
from course_utils.errors import ConfigError, ShapeError
from course_utils.io import STANDARD_ORIENTATION, as_image

#: Resampling refuses to make a grid of more voxels than this (4 GiB of float32).
MAX_RESAMPLED_VOXELS: int = 2**30


def reorient(image: sitk.Image, orientation: str = STANDARD_ORIENTATION) -> sitk.Image:
    """Permute/flip the voxel axes to ``orientation`` (SimpleITK DICOMOrient codes); lossless.

    Parameters: ``image``, a 3D image (or its file); ``orientation``, one letter from each of L/R, P/A,
    S/I, e.g. ``"LPS"`` (the course's standard) or ``"RAS"``.
    """
    image = as_image(image, "the image to reorient")
    code = str(orientation).upper()
    letters = sorted(code)
    if len(code) != 3 or not all(
        sum(c in pair for c in code) == 1 for pair in ("LR", "PA", "SI")
    ) or letters != sorted(set(letters)):
        raise ConfigError(
            f"orientation {orientation!r} is not a valid 3-letter code; use one letter from "
            "each of L/R, P/A, S/I, e.g. 'LPS' or 'RAS'", name="orientation"
        )
    return sitk.DICOMOrient(image, code)


def check_spacing(spacing: float | Sequence[float], image: sitk.Image) -> tuple[float, ...]:
    """``spacing`` as one positive number of mm per axis of ``image``; ConfigError otherwise.

    Also refuses a grid of more than ``MAX_RESAMPLED_VOXELS`` voxels (spacing given in metres).

    Parameters: ``spacing``, one number of millimetres or one per axis (x, y, z); ``image``, the
    image to resample.
    """
    dim = image.GetDimension()
    values = np.atleast_1d(np.asarray(spacing, dtype=object)).ravel().tolist()
    if len(values) == 1:
        values = values * dim
    if len(values) != dim:
        raise ConfigError(f"spacing must be one number of millimetres or {dim} of them (x, y, z), "
                          f"got {spacing!r}", name="spacing")
    new = tuple(checks.number(v, "spacing", minimum=0, open_min=True) for v in values)
    voxels = float(np.prod(np.asarray(resampled_size(image, new), dtype=float)))
    if voxels > MAX_RESAMPLED_VOXELS:
        raise ConfigError(
            f"resampling a {list(image.GetSize())} image of spacing "
            f"{np.round(image.GetSpacing(), 3).tolist()} mm to {list(new)} mm would make "
            f"{voxels:.3g} voxels ({voxels * 4 / 2**30:.3g} GiB as float32), more than "
            f"{MAX_RESAMPLED_VOXELS:.3g}: spacing is in millimetres, did you mean "
            f"{[round(s * 1000, 6) for s in new]} (e.g. 1.0 for 1 mm)?", name="spacing",
        )
    return new


def resampled_size(image: sitk.Image, new_spacing: Sequence[float]) -> list[int]:
    """The grid size that keeps the image's extent: round(size * spacing / new_spacing) per axis.

    Parameters: ``image``, a SimpleITK image; ``new_spacing``, the new voxel size in mm, one per
    axis (x, y, z).
    """
    return [max(1, round(n * old / new))
            for n, old, new in zip(image.GetSize(), image.GetSpacing(), new_spacing, strict=True)]


def smooth_before_downsampling(image: sitk.Image, new_spacing: Sequence[float]) -> sitk.Image:
    """Gaussian blur along every axis whose voxels get larger, so that no finer detail aliases.

    The blur widens a voxel of size ``old`` into one of size ``new``: its full width at half
    maximum is sqrt(new**2 - old**2) mm, i.e. sigma = 0.42 * sqrt(new**2 - old**2) mm.

    Parameters: ``image``, a SimpleITK image; ``new_spacing``, the voxel size (mm) it will be
    resampled to, one per axis. Axes that keep or refine their spacing are not blurred.
    """
    sigmas = [0.42 * np.sqrt(max(new**2 - old**2, 0.0))
              for old, new in zip(image.GetSpacing(), new_spacing, strict=True)]
    if max(sigmas) == 0:
        return image
    variances = [s * s for s in sigmas]  # DiscreteGaussian takes variances, in mm^2
    return sitk.DiscreteGaussian(sitk.Cast(image, sitk.sitkFloat32), variances, 32, 0.01, True)


def resample_isotropic(image: sitk.Image, spacing: float = 1.0, is_label: bool = False
                       ) -> sitk.Image:
    """Resample to voxels of ``spacing`` mm, keeping the origin, the direction and the extent.

    Parameters: ``image``, a 3D image (or its file); ``spacing``, the new voxel size in mm;
    ``is_label``, nearest neighbour (no new label values) instead of smoothing + B-spline.
    """
    image = as_image(image, "the image to resample")
    new_spacing = check_spacing(spacing, image)  # positive mm per axis, a grid that fits memory
    if np.allclose(image.GetSpacing(), new_spacing, rtol=0, atol=1e-6):
        return sitk.Image(image)  # already there: a copy, without interpolation blur
    size = resampled_size(image, new_spacing)
    pixel_type = image.GetPixelID()  # the result keeps the input's type (int16 stays int16)
    if is_label:
        interpolator = sitk.sitkNearestNeighbor
    else:
        interpolator = sitk.sitkBSpline
        image = smooth_before_downsampling(image, new_spacing)
    return sitk.Resample(image, size, sitk.Transform(), interpolator, image.GetOrigin(),
                         new_spacing, image.GetDirection(), 0, pixel_type)


def crop_or_pad(image: sitk.Image, size: Sequence[int], pad_value: float = 0) -> sitk.Image:
    """Crop or zero-pad each axis around the centre to ``size`` voxels (x, y, z order).

    Parameters: ``image``, a SimpleITK image; ``size``, the new size (x, y, z);
    ``pad_value``, the value of added voxels.

    The origin is updated so every kept voxel stays at the same physical point.
    When the difference is odd the extra voxel is taken from / added at the end.
    """
    size = [int(s) for s in size]
    old = image.GetSize()
    if len(size) != len(old) or any(s < 1 for s in size):
        raise ShapeError(
            f"crop_or_pad needs {len(old)} positive sizes (x, y, z order), got {list(size)}"
        )
    lower_crop, upper_crop, lower_pad, upper_pad = [], [], [], []
    for n, m in zip(old, size, strict=True):
        diff = n - m
        lo = abs(diff) // 2
        hi = abs(diff) - lo
        if diff > 0:
            lower_crop.append(lo), upper_crop.append(hi), lower_pad.append(0), upper_pad.append(0)
        else:
            lower_crop.append(0), upper_crop.append(0), lower_pad.append(lo), upper_pad.append(hi)
    out = image
    if any(lower_crop) or any(upper_crop):
        out = sitk.Crop(out, lower_crop, upper_crop)  # Crop keeps physical positions itself
    if any(lower_pad) or any(upper_pad):
        out = sitk.ConstantPad(out, lower_pad, upper_pad, pad_value)  # so does ConstantPad
    if out is image:
        out = sitk.Image(image)
    return out
