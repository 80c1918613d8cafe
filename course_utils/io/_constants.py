"""Constants of the course's images, defined once: every module imports them from here."""

from __future__ import annotations

import os

PathLike = str | os.PathLike

#: Sequence columns of the course's cohort tables, in their usual order.
SEQUENCES = ("t1", "t1_ir", "t2_flair")

#: Names of the cohort's tissue labels (the dataset's ``df.attrs["label_names"]``).
LABEL_NAMES: dict[int, str] = {0: "background", 1: "CSF", 2: "grey matter",
                               3: "white matter", 4: "lesion"}

#: One colour per label (hex); background (0) is never drawn.
LABEL_COLOURS: dict[int, str] = {0: "#000000", 1: "#2e86de", 2: "#27ae60",
                                 3: "#f1c40f", 4: "#e74c3c", 5: "#9b59b6",
                                 6: "#e67e22", 7: "#1abc9c", 8: "#ff6ec7"}

#: The orientation every standardised volume is brought to (ITK/DICOM letters).
STANDARD_ORIENTATION = "LPS"

#: Geometry tolerance (mm for spacing and origin, unitless for direction cosines): headers
#: that differ by less than this describe the same voxel grid. NIfTI stores float32, whose
#: rounding of a 1000 mm origin is ~6e-5 mm.
GEOMETRY_ATOL = 1e-4

#: Extensions :func:`course_utils.io.write_image` writes (single-file formats only, so that
#: the atomic rename moves the whole image).
WRITE_EXTENSIONS = (".nii.gz", ".nii", ".nrrd", ".mha")
