"""Preprocessing: spatial standardisation (lesson 03), later intensity and registration.

Spatial and registration functions take and return a ``SimpleITK.Image`` so that
the header (origin, spacing, direction) travels with the voxels; the intensity
functions work on numpy arrays ([z, y, x] or [z, y, x, C]).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

from course_utils import checks
from course_utils.errors import ConfigError, DataError, ShapeError
from course_utils.io import STANDARD_ORIENTATION, as_image

if TYPE_CHECKING:  # sklearn takes seconds to import: only register_affine needs it
    from sklearn.utils import Bunch

# =============================================================================
# Spatial: orientation, isotropic resampling, cropping/padding
# =============================================================================

#: Resampling refuses to make a grid of more voxels than this (4 GiB of float32).
MAX_RESAMPLED_VOXELS = 2**30


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


def _check_spacing(spacing: float | Sequence[float], dim: int) -> tuple[float, ...]:
    values = np.atleast_1d(np.asarray(spacing, dtype=object)).ravel().tolist()
    if len(values) == 1:
        values = values * dim
    if len(values) != dim:
        raise ConfigError(f"spacing must be one number of millimetres or {dim} of them (x, y, z), "
                          f"got {spacing!r}", name="spacing")
    return tuple(checks.number(v, "spacing", minimum=0, open_min=True) for v in values)


def _resampled_size(image: sitk.Image, spacing: tuple[float, ...]) -> list[int]:
    """round(size * old spacing / spacing) per axis; ConfigError if the grid is absurdly large."""
    size = [max(1, int(round(n * s_old / s_new)))
            for n, s_old, s_new in zip(image.GetSize(), image.GetSpacing(), spacing, strict=True)]
    voxels = float(np.prod(np.asarray(size, dtype=float)))
    if voxels > MAX_RESAMPLED_VOXELS:
        raise ConfigError(
            f"resampling a {list(image.GetSize())} image of spacing "
            f"{np.round(image.GetSpacing(), 3).tolist()} mm to {list(spacing)} mm would make "
            f"{voxels:.3g} voxels ({voxels * 4 / 2**30:.3g} GiB as float32), more than "
            f"{MAX_RESAMPLED_VOXELS:.3g}: spacing is in millimetres, did you mean "
            f"{[round(s * 1000, 6) for s in spacing]} (e.g. 1.0 for 1 mm)?", name="spacing",
        )
    return size


def resample_isotropic(
    image: sitk.Image, spacing: float | Sequence[float] = 1.0, is_label: bool = False
) -> sitk.Image:
    """Resample to ``spacing`` mm: new size = round(size * old spacing / spacing), same origin
    and direction; B-spline for images, nearest neighbour for label maps.

    Parameters: ``image``, a 3D image (or its file); ``spacing``, millimetres, one number or three
    (x, y, z); ``is_label``, nearest neighbour so that no new label values appear.
    """
    image = as_image(image, "the image to resample")
    new_spacing = _check_spacing(spacing, image.GetDimension())
    if np.allclose(image.GetSpacing(), new_spacing, rtol=0, atol=1e-6):
        return sitk.Image(image)  # already there: an identical copy
    new_size = _resampled_size(image, new_spacing)
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkBSpline
    return sitk.Resample(
        image,
        new_size,
        sitk.Transform(),
        interpolator,
        image.GetOrigin(),
        new_spacing,
        image.GetDirection(),
        0,
        image.GetPixelID(),
    )


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


# =============================================================================
# Intensity: whitening, windowing, label/intensity checks
# (owner: normalisation engineer; lesson 03)
#
# These work on numpy arrays in the course's [z, y, x] or [z, y, x, C] layout,
# the layout that io.read_subject returns and the networks consume.
# =============================================================================

#: An integer array with at most this many distinct values looks like a label map.
MAX_LABEL_VALUES = 32
#: A label map with more distinct values than this looks like an intensity image.
MAX_LABEL_MAP_VALUES = 256


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


def whiten(
    array: np.ndarray,
    mask: np.ndarray | None = None,
    axis: int | Sequence[int] | None = None,
    eps: float = 1e-8,
) -> np.ndarray:
    """Zero mean, unit variance per volume (and per channel when the last axis is channels).

    ``axis``: the axes the statistics are taken over. ``None`` means a whole 3D
    volume, or for a 4D ``[z, y, x, C]`` array each channel separately
    (axes 0, 1, 2). Pass e.g. ``axis=(1, 2, 3)`` for a batch ``[n, z, y, x, C]``.
    ``mask``: statistics only inside this (boolean, spatial-shaped) mask, e.g.
    the brain; every voxel is still transformed with them. A channel whose
    standard deviation is below ``eps`` is only centred (no division by ~0).
    Returns float32.
    """
    x = check_intensity_image(array).astype(np.float32)
    if axis is None:
        axis = (0, 1, 2) if x.ndim == 4 else tuple(range(x.ndim))
    axis = tuple(np.atleast_1d(axis).tolist())
    if mask is None:
        mean = x.mean(axis=axis, keepdims=True, dtype=np.float64)
        std = x.std(axis=axis, keepdims=True, dtype=np.float64)
    else:
        m = np.asarray(mask).astype(bool)
        if m.shape != x.shape:
            if x.ndim == m.ndim + 1 and m.shape == x.shape[:-1]:
                m = m[..., None]
            else:
                raise ShapeError(
                    f"mask shape {m.shape} does not fit image shape {x.shape}; the mask must have "
                    "the image's spatial shape"
                )
        m = np.broadcast_to(m, x.shape)
        count = m.sum(axis=axis, keepdims=True)
        if np.any(count == 0):
            raise DataError("the mask given to whiten() is empty (for at least one channel); "
                            "statistics need at least one voxel inside it")
        mean = np.where(m, x, 0).sum(axis=axis, keepdims=True, dtype=np.float64) / count
        var = np.where(m, (x - mean) ** 2, 0).sum(axis=axis, keepdims=True, dtype=np.float64)
        std = np.sqrt(var / count)
    std = np.where(std < eps, 1.0, std)
    return ((x - mean) / std).astype(np.float32)


def rescale_window(array: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip to the window ``[low, high]`` (e.g. Hounsfield units) and map it linearly to [-1, 1].

    Parameters: ``array``, an intensity image; ``low``, ``high``, the window's bounds.
    """
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)) or high <= low:
        raise ConfigError(f"window must satisfy low < high, got low={low}, high={high}")
    x = check_intensity_image(array).astype(np.float32)
    return (2.0 * (np.clip(x, low, high) - low) / (high - low) - 1.0).astype(np.float32)


def foreground_mask(image: sitk.Image | np.ndarray) -> np.ndarray:
    """A rough head/brain mask: Otsu threshold, holes filled (SimpleITK), as a bool array.

    Parameters: ``image``, a SimpleITK image or an intensity array [z, y, x].
    """
    if not isinstance(image, sitk.Image):
        image = sitk.GetImageFromArray(np.asarray(check_intensity_image(image), np.float32))
    mask = sitk.OtsuThreshold(sitk.Cast(image, sitk.sitkFloat32), 0, 1)
    mask = sitk.BinaryFillhole(mask)
    return sitk.GetArrayFromImage(mask).astype(bool)


# =============================================================================
# Registration: affine registration to the MNI152 template (SimpleITK)
# (owner: normalisation engineer; lesson 03)
# =============================================================================


MNI_KINDS = {
    "t1": "load_mni152_template",
    "brain_mask": "load_mni152_brain_mask",
    "gm": "load_mni152_gm_template",
    "wm": "load_mni152_wm_template",
}


def mni_template(resolution: int = 2, kind: str = "t1") -> sitk.Image:
    """An MNI152 template shipped inside nilearn (no download), as a float32 SimpleITK image.

    ``kind``: ``"t1"`` (the T1 template), ``"brain_mask"``, ``"gm"`` or ``"wm"``
    (grey/white matter probability maps); ``resolution`` 1 or 2 mm.
    """
    import nibabel as nib
    from nilearn import datasets

    if kind not in MNI_KINDS:
        raise ConfigError(f"unknown MNI152 template kind {kind!r}; choose one of "
                          f"{', '.join(MNI_KINDS)}")
    nii = getattr(datasets, MNI_KINDS[kind])(resolution=resolution)
    nii = nib.as_closest_canonical(nii)
    data = np.asarray(nii.get_fdata(), dtype=np.float32)
    affine = np.asarray(nii.affine, dtype=float)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    columns = affine[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    direction = ras_to_lps @ (columns / spacing)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    image.SetSpacing(spacing.tolist())
    image.SetOrigin((ras_to_lps @ affine[:3, 3]).tolist())
    image.SetDirection(direction.ravel().tolist())
    return image


def _registration_method(iterations: int, shrink_factors: Sequence[int],
                         smoothing_sigmas: Sequence[float], sampling_percentage: float,
                         learning_rate: float, seed: int) -> sitk.ImageRegistrationMethod:
    """Mattes MI, random sampling, regular-step gradient descent, a pyramid (no transform yet)."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(float(sampling_percentage), int(seed))
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=float(learning_rate), minStep=1e-4, numberOfIterations=int(iterations),
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([int(s) for s in shrink_factors])
    method.SetSmoothingSigmasPerLevel([float(s) for s in smoothing_sigmas])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return method


def register_affine(
    fixed: sitk.Image,
    moving: sitk.Image,
    *,
    iterations: int = 50,
    shrink_factors: Sequence[int] = (4, 2, 1),
    smoothing_sigmas: Sequence[float] = (2.0, 1.0, 0.0),
    sampling_percentage: float = 0.05,
    learning_rate: float = 1.0,
    seed: int = 42,
) -> Bunch:
    """Affine registration of ``moving`` onto ``fixed`` with SimpleITK's ImageRegistrationMethod.

    Mattes mutual information (works across contrasts), random sampling of a
    fraction of voxels, regular-step gradient descent, a multi-resolution
    pyramid, initialised by aligning the centres of mass.

    Parameters: ``fixed``, ``moving``, 3D images (or their files); ``iterations`` per pyramid level;
    ``shrink_factors`` and ``smoothing_sigmas`` (voxels), one per level;
    ``sampling_percentage`` of voxels sampled, in (0, 1]; ``learning_rate`` of the
    optimiser; ``seed`` of the sampling. Returns a :class:`sklearn.utils.Bunch` (a dict
    whose keys are also attributes) with ``transform`` (maps fixed -> moving points, as sitk.Resample expects),
    ``metric`` (value per iteration, recorded by an iteration observer),
    ``level_starts`` (iteration index where each pyramid level starts),
    ``stop`` (the optimiser's stop condition) and ``final_metric``.
    """
    from sklearn.utils import Bunch

    if len(shrink_factors) != len(smoothing_sigmas):
        raise ConfigError("shrink_factors and smoothing_sigmas need one entry per pyramid level",
                          name="shrink_factors")
    sampling_percentage = checks.number(sampling_percentage, "sampling_percentage",
                                        minimum=0, maximum=1, open_min=True)
    iterations = checks.integer(iterations, "iterations", minimum=1)
    fixed = as_image(fixed, "the fixed image")
    moving = as_image(moving, "the moving image")
    fixed_f = sitk.Cast(fixed, sitk.sitkFloat32)
    moving_f = sitk.Cast(moving, sitk.sitkFloat32)
    method = _registration_method(iterations, shrink_factors, smoothing_sigmas,
                                  sampling_percentage, learning_rate, seed)
    method.SetInitialTransform(sitk.CenteredTransformInitializer(
        fixed_f, moving_f, sitk.AffineTransform(3),
        sitk.CenteredTransformInitializerFilter.MOMENTS), inPlace=False)
    metric: list[float] = []
    level_starts: list[int] = []
    method.AddCommand(sitk.sitkIterationEvent,
                      lambda: metric.append(method.GetMetricValue()))
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent,
                      lambda: level_starts.append(len(metric)))
    transform = method.Execute(fixed_f, moving_f)
    return Bunch(
        transform=transform,
        metric=metric,
        level_starts=level_starts,
        stop=method.GetOptimizerStopConditionDescription(),
        final_metric=method.GetMetricValue(),
    )


def warp(
    moving: sitk.Image, reference: sitk.Image, transform: sitk.Transform, is_label: bool = False
) -> sitk.Image:
    """Resample ``moving`` onto ``reference``'s grid through ``transform``.

    Parameters: ``moving``, the image to resample; ``reference``, the grid;
    ``transform``, fixed -> moving points (what :func:`register_affine` returns);
    ``is_label``, nearest neighbour (no new, in-between label values) instead of linear.
    """
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    return sitk.Resample(moving, reference, transform, interpolator, 0.0, moving.GetPixelID())


def checkerboard(fixed: sitk.Image, moving_resampled: sitk.Image, squares: int = 6) -> sitk.Image:
    """Checkerboard of two images on the same grid (each rescaled to [0, 1]) to judge alignment.

    Parameters: ``fixed``, ``moving_resampled``, images on one grid; ``squares`` per axis.
    """
    a = sitk.RescaleIntensity(sitk.Cast(fixed, sitk.sitkFloat32), 0.0, 1.0)
    b = sitk.RescaleIntensity(sitk.Cast(moving_resampled, sitk.sitkFloat32), 0.0, 1.0)
    b.CopyInformation(a)
    return sitk.CheckerBoard(a, b, [int(squares)] * a.GetDimension())
