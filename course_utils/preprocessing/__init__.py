"""Preprocessing (lesson 03): intensity normalisation, spatial standardisation, registration.

One module per concept; every public name stays importable as ``course_utils.preprocessing.X``:

* :mod:`~course_utils.preprocessing.intensity`: whitening (inside a mask), CT windowing,
  label/intensity checks, a rough foreground mask;
* :mod:`~course_utils.preprocessing.spatial`: reorientation, isotropic resampling (with
  smoothing before downsampling), cropping/padding;
* :mod:`~course_utils.preprocessing.registration`: the MNI152 template, affine and B-spline
  registration, warping, the Jacobian determinant, checkerboards.

Spatial and registration functions take and return a ``SimpleITK.Image`` so that the header
(origin, spacing, direction) travels with the voxels; the intensity functions work on numpy
arrays ([z, y, x] or [z, y, x, C]). ``whiten``, ``rescale_window``, ``resampled_size``,
``smooth_before_downsampling``, ``resample_isotropic`` and ``jacobian_determinant`` are
taught in notebook 03 (tools/taught.py keeps the two copies identical).
"""

from course_utils.io import STANDARD_ORIENTATION
from course_utils.preprocessing.intensity import (
    MAX_LABEL_MAP_VALUES,
    MAX_LABEL_VALUES,
    check_intensity_image,
    check_label_map,
    check_mask,
    foreground_mask,
    rescale_window,
    whiten,
)
from course_utils.preprocessing.registration import (
    MNI_KINDS,
    checkerboard,
    jacobian_determinant,
    mni_template,
    register_affine,
    register_bspline,
    warp,
)
from course_utils.preprocessing.spatial import (
    MAX_RESAMPLED_VOXELS,
    check_spacing,
    crop_or_pad,
    reorient,
    resample_isotropic,
    resampled_size,
    smooth_before_downsampling,
)

__all__ = [
    "MAX_LABEL_MAP_VALUES", "MAX_LABEL_VALUES", "MAX_RESAMPLED_VOXELS", "MNI_KINDS",
    "STANDARD_ORIENTATION", "check_intensity_image", "check_label_map", "check_mask",
    "check_spacing", "checkerboard", "crop_or_pad", "foreground_mask", "jacobian_determinant",
    "mni_template", "register_affine", "register_bspline", "reorient", "resample_isotropic",
    "resampled_size", "rescale_window", "smooth_before_downsampling", "warp", "whiten",
]
