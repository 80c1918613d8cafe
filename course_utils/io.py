"""Reading and writing images, header summaries, and voxel <-> world coordinates (lesson 01).

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

import gzip
import os
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.errors import DataError, ShapeError
from course_utils.files import atomic_path

PathLike = str | os.PathLike

#: Sequence columns of the course's cohort tables, in their usual order.
SEQUENCES = ("t1", "t1_ir", "t2_flair")

#: Geometry tolerance: headers that differ by less than this are the same grid.
GEOMETRY_ATOL = 1e-4

# =============================================================================
# Reading and writing
# =============================================================================


def _regenerate_hint(path: Path) -> str:
    return (
        f"delete {path} and regenerate it (for the course's cohort: run the notebook's "
        "`data.load(...)` cell again, which rebuilds missing files), or check the path"
    )


def read_image(path: PathLike, pixel_type: int = sitk.sitkUnknown,
               verify: bool = True) -> sitk.Image:
    """Read a NIfTI/NRRD/MHA/... file with SimpleITK; DataError naming the file if missing/corrupt.

    ITK reads a truncated NIfTI file without complaint (the missing voxels come
    back as garbage), so with ``verify`` NIfTI files are first checked to hold
    all their voxels (``.nii``: the file size; ``.nii.gz``: the gzip stream ends).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file not found: {path}; {_regenerate_hint(path)}")
    if path.stat().st_size == 0:
        raise DataError(f"image file {path} is empty (an interrupted write?); "
                        f"{_regenerate_hint(path)}")
    if verify:
        _check_nifti_complete(path)
    try:
        return sitk.ReadImage(str(path), pixel_type)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((line for line in first if "rror" in line), first[-1] if first else "")
        raise DataError(
            f"could not read image file {path}: it is corrupt, truncated or not an image "
            f"({detail.strip()[:160]}); {_regenerate_hint(path)}"
        ) from exc


def nifti_layout(path: PathLike) -> tuple[int, int, str] | None:
    """``(vox_offset, data_bytes, byte_order)`` of a NIfTI-1/2 file from its header, else None."""
    path = Path(path)
    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return None
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read(540)
    except (OSError, EOFError) as exc:
        raise DataError(f"could not read the NIfTI header of {path}: it is corrupt or truncated; "
                        f"{_regenerate_hint(path)}") from exc
    for order in ("<", ">"):
        if len(raw) >= 348 and struct.unpack(order + "i", raw[:4])[0] == 348:
            dims = struct.unpack(order + "8h", raw[40:56])
            bitpix = struct.unpack(order + "h", raw[72:74])[0]
            offset = int(struct.unpack(order + "f", raw[108:112])[0])
            break
        if len(raw) >= 540 and struct.unpack(order + "i", raw[:4])[0] == 540:
            dims = struct.unpack(order + "8q", raw[16:80])
            bitpix = struct.unpack(order + "h", raw[14:16])[0]
            offset = int(struct.unpack(order + "q", raw[168:176])[0])
            break
    else:
        return None  # not NIfTI after all: let SimpleITK decide
    n_dims = max(0, min(int(dims[0]), 7))
    n_voxels = int(np.prod([max(1, d) for d in dims[1:n_dims + 1]], dtype=np.int64))
    return offset, n_voxels * max(bitpix, 8) // 8, order


def _check_nifti_complete(path: Path) -> None:
    layout = nifti_layout(path)
    if layout is None:
        return
    offset, nbytes, _ = layout
    if not path.name.lower().endswith(".gz"):
        have = path.stat().st_size
    else:
        # Fast path: the gzip trailer's last 4 bytes hold the uncompressed size (mod 2**32);
        # a truncated file ends in arbitrary bytes, which match with odds of 1 in 4 billion.
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4))
            trailer = fh.read(4)
        if len(trailer) == 4 and struct.unpack("<I", trailer)[0] == (offset + nbytes) % 2**32:
            return
        have = 0  # slow path (padding or extensions after the data): decompress and count
        try:
            with gzip.open(path, "rb") as fh:
                while chunk := fh.read(1 << 22):
                    have += len(chunk)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(
                f"image file {path} is truncated or corrupt ({exc}); {_regenerate_hint(path)}"
            ) from exc
    if have < offset + nbytes:
        raise DataError(
            f"image file {path} is truncated: {have} bytes where the header promises "
            f"{offset + nbytes}; {_regenerate_hint(path)}"
        )


def write_image(image: sitk.Image, path: PathLike, compress: bool | None = None) -> Path:
    """Write ``image`` atomically (temporary name, then rename); ``.nii.gz`` is compressed."""
    path = Path(path)
    if compress is None:
        compress = path.name.endswith(".gz")
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=bool(compress))
    return path


def write_like(array: np.ndarray, reference: sitk.Image, path: PathLike) -> Path:
    """Write a z,y,x(,C) array as an image with ``reference``'s spacing, origin and direction."""
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    expected = tuple(reversed(reference.GetSize()))
    if array.shape[:3] != expected or array.ndim not in (3, 4):
        raise ShapeError(
            f"write_like: array of shape {array.shape} does not fit the reference grid; expected "
            f"{expected} (z, y, x, the reverse of GetSize() {reference.GetSize()}) "
            "optionally followed by a channel axis"
        )
    image = sitk.GetImageFromArray(array, isVector=array.ndim == 4)
    image.CopyInformation(reference)
    return write_image(image, path)


def _present_sequences(row: Mapping[str, Any]) -> list[str]:
    keys = list(row.keys()) if hasattr(row, "keys") else []
    return [s for s in SEQUENCES if s in keys and isinstance(row[s], (str, os.PathLike))]


def same_geometry(a: sitk.Image, b: sitk.Image, atol: float = GEOMETRY_ATOL) -> bool:
    """True if two images share size, spacing, origin and direction (within ``atol``)."""
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=atol)
        and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=atol)
        and np.allclose(a.GetDirection(), b.GetDirection(), atol=atol)
    )


def _geometry_text(img: sitk.Image) -> str:
    return (f"size {img.GetSize()}, spacing {np.round(img.GetSpacing(), 3).tolist()}, "
            f"origin {np.round(img.GetOrigin(), 2).tolist()}")


def read_subject(
    row: Mapping[str, Any], sequences: Sequence[str] | None = None, with_label: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """Read one cohort row: image float32 [z, y, x, C] (C = sequences) and label uint8 [z, y, x].

    Every file must share the first sequence's grid (size, spacing, origin,
    direction), else DataError naming the file. ``label`` is None when
    ``with_label`` is False or the row has no label (IXI).
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
        images.append(read_image(row[name], sitk.sitkFloat32))
    ref = images[0]
    label_img = None
    label_path = row.get("label") if hasattr(row, "get") else None
    if with_label and isinstance(label_path, (str, os.PathLike)):
        label_img = read_image(label_path)
    for name, img in [*zip(sequences, images, strict=True), ("label", label_img)]:
        if img is not None and not same_geometry(ref, img):
            raise DataError(
                f"read_subject: {row[name]} is not on the same voxel grid as "
                f"{row[sequences[0]]} ({_geometry_text(img)} vs {_geometry_text(ref)}); "
                "resample it onto the reference (preprocessing.resample_isotropic / sitk.Resample) "
                "or load the cohort with standardize=True"
            )
    image = np.stack([sitk.GetArrayViewFromImage(img) for img in images], axis=-1)
    image = image.astype(np.float32, copy=False)
    label = None
    if label_img is not None:
        label = sitk.GetArrayFromImage(label_img).astype(np.uint8, copy=False)
    return image, label


# =============================================================================
# Headers
# =============================================================================


def header(image: sitk.Image | PathLike) -> dict[str, Any]:
    """The header fields that matter for deep learning: size, dtype, spacing, origin, direction."""
    if not isinstance(image, sitk.Image):
        path = Path(image)
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        if not path.is_file():
            raise DataError(f"image file not found: {path}; {_regenerate_hint(path)}")
        try:
            reader.ReadImageInformation()  # header only: no voxels are read
        except RuntimeError as exc:
            raise DataError(f"could not read the header of {path}; {_regenerate_hint(path)}") \
                from exc
        src = reader
        dtype = sitk.GetPixelIDValueAsString(reader.GetPixelID())
    else:
        src = image
        dtype = image.GetPixelIDTypeAsString()
    direction = tuple(float(v) for v in src.GetDirection())
    return {
        "size": tuple(int(v) for v in src.GetSize()),
        "dtype": dtype,
        "spacing": tuple(round(float(v), 4) for v in src.GetSpacing()),
        "origin": tuple(round(float(v), 2) for v in src.GetOrigin()),
        "direction": tuple(round(v, 3) for v in direction),
        "orientation": orientation_code(direction),
    }


def header_table(paths: Mapping[str, PathLike] | Iterable[PathLike]):
    """A pandas DataFrame with one header per file (index: the mapping's keys or file names)."""
    import pandas as pd

    items = paths.items() if isinstance(paths, Mapping) else ((Path(p).name, p) for p in paths)
    rows = {}
    for key, path in items:
        rows[key] = header(path)
    return pd.DataFrame.from_dict(rows, orient="index")


# =============================================================================
# Voxel <-> world
# =============================================================================


def geometry(image: sitk.Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(origin [3], spacing [3], direction [3, 3])`` of an image as numpy arrays (x, y, z)."""
    dim = image.GetDimension()
    return (
        np.asarray(image.GetOrigin(), dtype=float),
        np.asarray(image.GetSpacing(), dtype=float),
        np.asarray(image.GetDirection(), dtype=float).reshape(dim, dim),
    )


def voxel_to_world(index: np.ndarray | Sequence[float], image: sitk.Image) -> np.ndarray:
    """World (LPS mm) position of voxel index/indices ``[..., 3]`` (x, y, z order):
    ``origin + direction @ (spacing * index)``. Fractional indices are allowed."""
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

    With ``rounded=True`` the nearest integer index (what
    ``TransformPhysicalPointToIndex`` returns) as int64.
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
    """The 4x4 voxel->world (LPS) matrix: ``[[direction * spacing, origin], [0, 0, 0, 1]]``."""
    origin, spacing, direction = geometry(image)
    affine = np.eye(4)
    affine[:3, :3] = direction * spacing  # scales the columns
    affine[:3, 3] = origin
    return affine


#: Multiply LPS coordinates by this to get RAS (and back): x and y change sign.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def affine_ras(image: sitk.Image) -> np.ndarray:
    """The NIfTI/nibabel affine (voxel -> RAS mm) of a SimpleITK image."""
    return LPS_TO_RAS @ affine_lps(image)


def lps_to_ras(points: np.ndarray | Sequence[float]) -> np.ndarray:
    """Flip the signs of x and y: ITK's LPS millimetres <-> NIfTI's RAS millimetres."""
    points = np.array(points, dtype=float)
    points[..., :2] *= -1
    return points


ras_to_lps = lps_to_ras


# =============================================================================
# Orientation
# =============================================================================


def orientation_code(image: sitk.Image | Sequence[float]) -> str:
    """Three-letter code of where the voxel axes point, e.g. ``"LPS"`` (x to Left, y to
    Posterior, z to Superior) or ``"RAS"``; from an image or a flat direction matrix."""
    direction = image.GetDirection() if isinstance(image, sitk.Image) else image
    return sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        [float(v) for v in direction])


def reorient(image: sitk.Image, orientation: str = "LPS") -> sitk.Image:
    """Permute/flip voxel axes so they point the ``orientation`` way; the world is unchanged."""
    from course_utils import preprocessing

    return preprocessing.reorient(image, orientation)


# =============================================================================
# DICOM series
# =============================================================================


def _dicom_number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


def write_dicom_series(image: sitk.Image, folder: PathLike, series_description: str = "course",
                       patient_id: str = "SYNTHETIC") -> list[Path]:
    """Write a 3D image as one DICOM file per axial slice (z), with the geometry tags;
    returns the file paths in slice order. Each file is written atomically."""
    if image.GetDimension() != 3:
        raise ShapeError(f"write_dicom_series needs a 3D image, got {image.GetDimension()}D")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if image.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        # DICOM stores integers: GDCM maps floats to int16 through the rescale slope
        # (intercept 0), chosen so the largest magnitude uses ~30000 of int16's range.
        stats = sitk.MinimumMaximumImageFilter()
        stats.Execute(image)
        largest = max(abs(stats.GetMinimum()), abs(stats.GetMaximum()))
        slope = largest / 30000.0 if largest > 0 else 1.0
        stored = sitk.Cast(image, sitk.sitkFloat32)
        extra = {"0028|0100": "16", "0028|0101": "16", "0028|0102": "15", "0028|0103": "1",
                 "0028|1052": "0", "0028|1053": f"{slope:.10g}"}
    else:
        stored, extra = image, {}
    direction = image.GetDirection()
    # Image Orientation (Patient): the row (x) and column (y) direction cosines.
    orientation = "\\".join(_dicom_number(v) for v in (direction[0], direction[3], direction[6],
                                                         direction[1], direction[4], direction[7]))
    study_uid = "1.2.826.0.1.3680043.2.1125.1." + str(zlib.crc32(str(folder.resolve()).encode()))
    series_uid = study_uid + ".1"
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # use the UIDs we set below
    paths = []
    spacing_z = image.GetSpacing()[2]
    for k in range(image.GetSize()[2]):
        slice_k = stored[:, :, k]
        position = image.TransformIndexToPhysicalPoint((0, 0, k))
        tags = {
            "0010|0020": patient_id,                        # Patient ID
            "0008|0060": "MR",                              # Modality
            "0020|000d": study_uid,                         # Study Instance UID
            "0020|000e": series_uid,                        # Series Instance UID
            "0008|0018": f"{series_uid}.{k + 1}",           # SOP Instance UID
            "0008|103e": series_description,                # Series Description
            "0020|0013": str(k + 1),                        # Instance Number
            "0020|0032": "\\".join(_dicom_number(v) for v in position),  # Image Position
            "0020|0037": orientation,                       # Image Orientation
            "0018|0050": _dicom_number(spacing_z),          # Slice Thickness
            **extra,                                        # pixel format, rescale slope
        }
        for key, value in tags.items():
            slice_k.SetMetaData(key, value)
        path = folder / f"slice_{k:04d}.dcm"
        with atomic_path(path) as tmp:
            writer.SetFileName(str(tmp))
            writer.Execute(slice_k)
        paths.append(path)
    return paths


def read_dicom_series(folder: PathLike) -> sitk.Image:
    """Read the (first) DICOM series in ``folder`` as one 3D image, slices sorted by position."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"DICOM folder not found: {folder}; write it first or check the path")
    series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise DataError(f"no DICOM series in {folder}; it should hold .dcm slices of one series")
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise DataError(f"could not read the DICOM series in {folder} (a corrupt slice?); "
                        "delete the folder and write it again") from exc
