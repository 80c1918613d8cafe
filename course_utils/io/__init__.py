"""Reading, verifying and writing images, header summaries, geometry and voxel <-> world (lesson 01).

The one I/O layer of the course: every module (``data``, ``pipelines``, ``viz``...) reads,
checks and writes images through these functions, compares grids with
:func:`same_geometry` (one tolerance, :data:`GEOMETRY_ATOL`) and imports the label and
orientation constants from here.

Conventions used everywhere in the course:

* A ``SimpleITK.Image`` carries its header: ``GetSize()``, ``GetSpacing()`` and
  ``GetOrigin()`` are in **x, y, z** order, and ``GetDirection()`` is a flat 3x3
  matrix (row-major) whose *columns* are the directions of the voxel axes.
* ``sitk.GetArrayFromImage`` returns a numpy array in **z, y, x** order: the
  axes are reversed. Voxel indices given to :func:`voxel_to_world` are in ITK's
  x, y, z order (the order of ``GetSize()``), never the array's.
* World coordinates are ITK's **LPS** millimetres (x grows to the patient's Left,
  y to Posterior, z to Superior). NIfTI and nibabel use **RAS**: the same point
  with the signs of x and y flipped (see :func:`lps_to_ras`).
"""

from __future__ import annotations

from course_utils.errors import DataError  # noqa: F401  (notebooks catch io.DataError)
from course_utils.io._constants import (
    GEOMETRY_ATOL,
    LABEL_COLOURS,
    LABEL_NAMES,
    SEQUENCES,
    STANDARD_ORIENTATION,
    WRITE_EXTENSIONS,
    PathLike,
)
from course_utils.io._dicom import read_dicom_series, write_dicom_series
from course_utils.io._files import (
    check_complete,
    extension,
    is_nifti,
    nifti_header,
    nifti_layout,
    read_header,
    read_image,
    write_image,
    write_like,
)
from course_utils.io._geometry import (
    LPS_TO_RAS,
    affine_lps,
    affine_ras,
    check_same_geometry,
    geometry,
    geometry_differences,
    grid,
    lps_to_ras,
    orientation_code,
    ras_to_lps,
    reorient,
    require_3d,
    same_geometry,
    voxel_to_world,
    world_to_voxel,
)
from course_utils.io._subject import (
    _present_sequences,
    as_image,
    header,
    header_table,
    read_subject,
)

__all__ = [
    "GEOMETRY_ATOL", "LABEL_COLOURS", "LABEL_NAMES", "LPS_TO_RAS", "SEQUENCES",
    "STANDARD_ORIENTATION", "WRITE_EXTENSIONS", "PathLike", "_present_sequences",
    "affine_lps", "affine_ras", "as_image", "check_complete", "check_same_geometry", "extension",
    "geometry", "geometry_differences", "grid", "header", "header_table", "is_nifti",
    "lps_to_ras", "nifti_header", "nifti_layout", "orientation_code", "ras_to_lps",
    "read_dicom_series", "read_header", "read_image", "read_subject", "reorient",
    "require_3d", "same_geometry", "voxel_to_world", "world_to_voxel", "write_dicom_series",
    "write_image", "write_like",
]
