"""One subject's files as arrays, and header summaries (lesson 01)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.errors import DataError, ShapeError
from course_utils.io._constants import SEQUENCES, PathLike
from course_utils.io._files import read_header, read_image
from course_utils.io._geometry import check_same_geometry, orientation_code, require_3d


def _present_sequences(row: Mapping[str, Any]) -> list[str]:
    keys = list(row.keys()) if hasattr(row, "keys") else []
    return [s for s in SEQUENCES if s in keys and isinstance(row[s], (str, os.PathLike))]


def as_image(image: sitk.Image | PathLike, name: str = "image", ndim: int | None = 3) -> sitk.Image:
    """The one funnel for image arguments: a SimpleITK image, or a file read (verified).

    Parameters: ``image``, a SimpleITK image or a path; ``name``, the argument's role for
    messages; ``ndim``, the required dimension (3; None accepts any). A numpy array is
    refused with how to give it a header (it has no spacing, origin or direction).
    """
    if isinstance(image, (str, os.PathLike)):
        path = image
        image = read_image(path)
    elif isinstance(image, sitk.Image):
        path = None
    else:
        hint = (" (an array has no spacing, origin or direction: make one with "
                "img = sitk.GetImageFromArray(array); img.CopyInformation(reference))"
                if isinstance(image, np.ndarray) else "")
        raise ShapeError(f"{name} must be a SimpleITK image or an image file, got "
                         f"{type(image).__name__}{hint}")
    if ndim == 3:
        require_3d(image, str(path or name), path=path)
    return image


def _read_3d(path: PathLike, pixel_type: int = sitk.sitkUnknown) -> sitk.Image:
    """A 3D single-channel image (checked on its header first), else ShapeError naming it."""
    info = require_3d(read_header(path), str(path), path=path)
    if info.GetNumberOfComponents() != 1:
        # ITK's conversion to a scalar pixel type would silently keep one component
        raise ShapeError(
            f"{path} holds {info.GetNumberOfComponents()} values per voxel (a vector or RGB "
            "image); a subject's files must be single-channel 3D volumes: store each channel as "
            "its own file (sitk.VectorIndexSelectionCast(image, k))", path=path)
    return read_image(path, pixel_type)


def read_subject(
    row: Mapping[str, Any], sequences: Sequence[str] | None = None, with_label: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one cohort row: image float32 [z, y, x, C] (C = sequences) and label uint8 [z, y, x].

    Parameters: ``row``, a cohort table row (columns of file paths); ``sequences``, the
    image columns to stack (default: those of :data:`SEQUENCES` present); ``with_label``,
    also read the ``label`` column. Every file must be a 3D volume on the first
    sequence's grid, else an error naming the file. ``label`` is None without one (IXI).
    """
    if sequences is None:
        sequences = _present_sequences(row)
    elif isinstance(sequences, str):
        sequences = [sequences]
    if not sequences:
        raise DataError(
            f"read_subject: no sequence files in this row (looked for columns {list(SEQUENCES)}); "
            "pass sequences=[...] with the names of the image columns"
        )
    images: list[sitk.Image] = []
    for name in sequences:
        if name not in row or not isinstance(row[name], (str, os.PathLike)):
            raise DataError(f"read_subject: the row has no file for sequence {name!r}; "
                            f"available: {_present_sequences(row)}")
        images.append(_read_3d(row[name], sitk.sitkFloat32))
    ref = images[0]
    label_img = None
    label_path = row.get("label") if hasattr(row, "get") else None
    if with_label and isinstance(label_path, (str, os.PathLike)):
        label_img = _read_3d(label_path)
    for name, img in [*zip(sequences, images, strict=True), ("label", label_img)]:
        if img is not None:
            check_same_geometry(img, ref, row[name], row[sequences[0]])
    image = np.stack([sitk.GetArrayViewFromImage(img) for img in images], axis=-1)
    image = image.astype(np.float32, copy=False)
    label = None
    if label_img is not None:
        from course_utils.preprocessing import check_label_map

        # a probability map or labels above 255 would be silently cut by the cast to uint8
        label = check_label_map(sitk.GetArrayFromImage(label_img), n_classes=256,
                                name=str(label_path)).astype(np.uint8, copy=False)
    return image, label


def header(image: sitk.Image | PathLike) -> dict[str, Any]:
    """The header fields that matter for deep learning: size, dtype, spacing, origin, direction.

    Parameters: ``image``, a SimpleITK image or a file (only its header is read).
    """
    src: Any
    if isinstance(image, sitk.Image):
        src, dtype = image, image.GetPixelIDTypeAsString()
    else:
        src = read_header(image)
        dtype = sitk.GetPixelIDValueAsString(src.GetPixelID())
    direction = tuple(float(v) for v in src.GetDirection())
    return {
        "size": tuple(int(v) for v in src.GetSize()),
        "dtype": dtype,
        "spacing": tuple(round(float(v), 4) for v in src.GetSpacing()),
        "origin": tuple(round(float(v), 2) for v in src.GetOrigin()),
        "direction": tuple(round(v, 3) for v in direction),
        "orientation": orientation_code(direction) if len(direction) == 9 else "",
    }


def header_table(paths: Mapping[str, PathLike] | Iterable[PathLike]):
    """A pandas DataFrame with one :func:`header` per file.

    Parameters: ``paths``, a mapping name -> file (its keys become the index) or files
    (indexed by file name).
    """
    import pandas as pd

    items = paths.items() if isinstance(paths, Mapping) else ((Path(p).name, p) for p in paths)
    rows = {key: header(path) for key, path in items}
    return pd.DataFrame.from_dict(rows, orient="index")
