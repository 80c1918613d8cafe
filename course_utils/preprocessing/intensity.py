"""Intensity normalisation (lesson 03): whitening inside a mask, CT windowing, input checks.

These work on numpy arrays in the course's [z, y, x] or [z, y, x, C] layout, the layout that
io.read_subject returns and the networks consume. ``whiten`` and ``rescale_window`` are taught in
notebook 03 (tools/taught.py keeps the two copies identical); the checks they call are plumbing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from course_utils.errors import ConfigError, DataError, ShapeError

#: An integer array with at most this many distinct values looks like a label map.
MAX_LABEL_VALUES: int = 32
#: A label map with more distinct values than this looks like an intensity image.
MAX_LABEL_MAP_VALUES: int = 256


def _n_unique(array: np.ndarray, limit: int) -> int:
    """Number of distinct values, stopping early (cheaply) once it exceeds ``limit``."""
    flat = np.ravel(array)
    sample = flat[:: max(1, flat.size // 100_000)]
    if np.unique(sample).size > limit:
        return np.unique(sample).size
    return np.unique(flat).size


def check_intensity_image(array: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``array`` if it looks like an intensity image, else raise DataError.

    Detection rule: a boolean array, or an integer array with at most
    ``MAX_LABEL_VALUES`` distinct values, is a label map (a CT in int16 has
    thousands of values and passes). Non-finite values are refused too.

    Parameters: ``array``, the image; ``name``, the argument's name for the message.
    """
    array = np.asarray(array)
    if array.dtype == bool or (
        np.issubdtype(array.dtype, np.integer) and _n_unique(array, MAX_LABEL_VALUES)
        <= MAX_LABEL_VALUES
    ):
        values = np.unique(array)[:8].tolist()
        raise DataError(
            f"{name} (shape {array.shape}, dtype {array.dtype}, values {values}...) looks like a "
            f"label map (integers, at most {MAX_LABEL_VALUES} distinct values), not an intensity "
            "image; pass the image (e.g. the T1 array) here and the labels to the `label` "
            "argument. If it really is an intensity image (e.g. a coarsely quantised int16 "
            "scan), cast it first: array.astype(np.float32)"
        )
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        raise DataError(f"{name} (shape {array.shape}) contains NaN or infinite values; "
                        "fix or mask them before normalising")
    return array


def check_mask(mask: np.ndarray | None, shape: Sequence[int], name: str = "mask") -> np.ndarray:
    """``mask`` as booleans of the image's spatial ``shape`` (all True if None); else raise.

    Parameters: ``mask``, booleans (or 0/1) [z, y, x], or None for every voxel; ``shape``, the
    image's spatial shape; ``name``, the argument's name for the message. ShapeError if the
    shapes differ, DataError if no voxel is inside.
    """
    shape = tuple(int(n) for n in shape)
    if mask is None:
        return np.ones(shape, bool)
    m = np.asarray(mask).astype(bool)
    if m.shape != shape:
        raise ShapeError(f"{name} shape {m.shape} does not fit the image's spatial shape {shape}; "
                         "the mask must have the image's [z, y, x] shape (one mask for every "
                         "channel)")
    if not m.any():
        raise DataError(f"the {name} is empty: the statistics need at least one voxel inside it "
                        "(is it the right subject's mask, e.g. label > 0?)")
    return m


def check_label_map(
    array: np.ndarray, n_classes: int | None = None, name: str = "label"
) -> np.ndarray:
    """Return ``array`` as an integer label map, or raise DataError if it is not one.

    A float array is accepted only if every value is a whole number (labels
    stored as float in a NIfTI file); an intensity image (non-integer values, or more
    than ``MAX_LABEL_MAP_VALUES`` distinct ones) is refused.

    Parameters: ``array``, the labels; ``n_classes``, if given every value must lie in
    ``0 .. n_classes - 1``; ``name``, the argument's name for the message.
    """
    array = np.asarray(array)
    intensity_hint = ("; pass the label volume here (and the image to the image argument); a "
                      "label map resampled with a smooth interpolator must be resampled again "
                      "with nearest neighbour (is_label=True)")
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
            raise DataError(f"{name} (shape {array.shape}, dtype {array.dtype}) has non-integer "
                            f"values, so it looks like an intensity image, not a label map"
                            f"{intensity_hint}")
    elif array.dtype == bool:
        array = array.astype(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{name} has dtype {array.dtype}; a label map must hold integers, e.g. "
                        "array.astype(np.uint8)")
    # uint8/int8 maps (the course's) skip the count: 256 values at most anyway
    if array.dtype.itemsize > 1 and _n_unique(array, MAX_LABEL_MAP_VALUES) > MAX_LABEL_MAP_VALUES:
        raise DataError(f"{name} (shape {array.shape}, dtype {array.dtype}) has more than "
                        f"{MAX_LABEL_MAP_VALUES} distinct values: it looks like an intensity image, "
                        f"not a label map{intensity_hint}")
    if np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.int64)
    if n_classes is not None and array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= n_classes:
            raise DataError(
                f"{name} (shape {array.shape}) holds values {low}..{high}, outside the class range "
                f"0..{n_classes - 1}; check n_classes (the label names list has one entry per "
                "class) or remap the labels"
            )
    return array


def whiten(image: np.ndarray, mask: np.ndarray | None = None, eps: float = 1e-8) -> np.ndarray:
    """Zero mean and unit variance, with the statistics of the voxels inside ``mask``.

    Parameters: ``image``, intensities [z, y, x] or [z, y, x, C] (each channel on its own);
    ``mask``, booleans [z, y, x] such as the brain: only its voxels give the mean and the
    standard deviation, which are then applied to every voxel (None: all voxels);
    ``eps``, a smaller standard deviation (a constant image) is not divided by.
    Returns float32.
    """
    x = check_intensity_image(image).astype(np.float32)
    inside = x[check_mask(mask, x.shape[:3])]  # [n] or [n, C]: the voxels that set the scale
    mean = inside.mean(axis=0, dtype=np.float64)
    std = inside.std(axis=0, dtype=np.float64)
    return ((x - mean) / np.where(std < eps, 1.0, std)).astype(np.float32)


def rescale_window(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to the window [low, high] (e.g. Hounsfield units) and map it linearly to [-1, 1].

    Parameters: ``image``, a quantitative image such as CT in HU; ``low``, ``high``, the
    window's bounds (a window of level L and width W is L - W/2 .. L + W/2).
    """
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ConfigError(f"window must satisfy low < high, got low={low}, high={high}", name="low")
    x = check_intensity_image(image).astype(np.float32)
    return (2 * (np.clip(x, low, high) - low) / (high - low) - 1).astype(np.float32)


def foreground_mask(image: sitk.Image | np.ndarray) -> np.ndarray:
    """A rough foreground mask: Otsu threshold, holes filled (SimpleITK), as a bool array.

    On skull-stripped MR it keeps grey and white matter and part of the CSF.

    Parameters: ``image``, a SimpleITK image or an intensity array [z, y, x].
    """
    if not isinstance(image, sitk.Image):
        image = sitk.GetImageFromArray(np.asarray(check_intensity_image(image), np.float32))
    mask = sitk.OtsuThreshold(sitk.Cast(image, sitk.sitkFloat32), 0, 1)
    mask = sitk.BinaryFillhole(mask)
    return sitk.GetArrayFromImage(mask).astype(bool)
