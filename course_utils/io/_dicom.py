"""DICOM series: one file per slice, written with the geometry tags, read back as one 3D image.

``series_tags``, ``slice_tags`` and ``write_slices`` are taught in notebook 01 (tools/taught.py
keeps the two copies identical); ``write_dicom_series`` checks the volume, chooses how its
voxels are stored and calls them.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import SimpleITK as sitk

from course_utils.errors import ConfigError, CorruptFileError, DataError
from course_utils.files import atomic_path
from course_utils.io._constants import PathLike
from course_utils.io._geometry import require_3d

UID_ROOT = "1.2.826.0.1.3680043.2.1125.1"  # GDCM's root for generated UIDs


def dicom_numbers(values: Sequence[float]) -> str:
    """Numbers as a DICOM decimal string: up to 6 decimals each, separated by backslashes.

    Parameters: ``values``: the numbers, e.g. a position (x, y, z) in mm.
    """
    return "\\".join(f"{v:.6f}".rstrip("0").rstrip(".") for v in values)


def series_tags(study_uid: str, series_number: int, description: str, patient_id: str
                ) -> dict[str, str]:
    """The tags every slice of one series shares: whose scan, which visit, which acquisition.

    Parameters: ``study_uid``: the Study Instance UID (one visit to the scanner);
    ``series_number``: this acquisition's number within the study; ``description``: its
    name (e.g. "T1"); ``patient_id``: the patient's identifier.
    """
    return {
        "0010|0020": patient_id,                            # Patient ID
        "0008|0060": "MR",                                  # Modality
        "0020|000d": study_uid,                             # Study Instance UID: the visit
        "0020|000e": f"{study_uid}.{series_number}",        # Series Instance UID: the acquisition
        "0020|0011": str(series_number),                    # Series Number
        "0008|103e": description,                           # Series Description
    }


def slice_tags(image: sitk.Image, k: int, series_uid: str) -> dict[str, str]:
    """The tags of slice ``k`` (along z): which file it is, and where it lies (LPS, mm).

    Parameters: ``image``: the 3D volume; ``k``: the slice's index along z;
    ``series_uid``: the Series Instance UID of the series it belongs to.
    """
    d = image.GetDirection()  # 3x3, row-major: column j is where voxel axis j points
    return {
        "0008|0018": f"{series_uid}.{k + 1}",               # SOP Instance UID: this file
        "0020|0013": str(k + 1),                            # Instance Number
        # Image Position (Patient): the world position of the slice's first voxel
        "0020|0032": dicom_numbers(image.TransformIndexToPhysicalPoint((0, 0, k))),
        # Image Orientation (Patient): where a row (voxel axis x) and a column (y) point
        "0020|0037": dicom_numbers((d[0], d[3], d[6], d[1], d[4], d[7])),
        "0018|0050": dicom_numbers(image.GetSpacing()[2:]),  # Slice Thickness
    }  # Pixel Spacing (0028|0030): the writer takes it from the 2D slice's own spacing


def write_slices(image: sitk.Image, folder: str | Path, shared: dict[str, str]) -> list[Path]:
    """Write each z slice of ``image`` as one DICOM file, with the ``shared`` tags and its own.

    Parameters: ``image``: the 3D volume; ``folder``: an existing folder for the files;
    ``shared``: the tags of the whole series (from :func:`series_tags`).
    """
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()  # write our UIDs, not new random ones
    paths = []
    for k in range(image.GetSize()[2]):
        slice_k = image[:, :, k]  # a 2D image: its header has no room for the z position
        for key, value in {**shared, **slice_tags(image, k, shared["0020|000e"])}.items():
            slice_k.SetMetaData(key, value)
        path = Path(folder) / f"slice_{k:04d}.dcm"
        with atomic_path(path) as tmp:  # written under a temporary name, then renamed
            writer.SetFileName(str(tmp))
            writer.Execute(slice_k)
        paths.append(path)
    return paths


def _stored_pixels(image: sitk.Image) -> tuple[sitk.Image, dict[str, str]]:
    """The image to write and the pixel-format tags: floats go to int16 through a rescale slope."""
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return image, {}
    # DICOM stores integers: GDCM maps floats to int16 through the rescale slope
    # (intercept 0), chosen so the largest magnitude uses ~30000 of int16's range.
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    largest = max(abs(stats.GetMinimum()), abs(stats.GetMaximum()))
    slope = largest / 30000.0 if largest > 0 else 1.0
    return sitk.Cast(image, sitk.sitkFloat32), {
        "0028|0100": "16", "0028|0101": "16", "0028|0102": "15", "0028|0103": "1",
        "0028|1052": "0", "0028|1053": f"{slope:.10g}"}


def write_dicom_series(image: sitk.Image, folder: PathLike, series_description: str = "course",
                       patient_id: str = "SYNTHETIC") -> list[Path]:
    """Write a 3D image as one DICOM file per axial slice (z), with the geometry tags.

    Parameters: ``image``, a 3D image (float voxels are stored as int16 with a rescale
    slope); ``folder``, created if needed; ``series_description``, ``patient_id``, tags.
    Returns the file paths in slice order; each file is written atomically.
    """
    require_3d(image, "write_dicom_series' image")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stored, pixel_format = _stored_pixels(image)
    study_uid = f"{UID_ROOT}.{zlib.crc32(str(folder.resolve()).encode())}"  # one per folder
    shared = series_tags(study_uid, 1, series_description, patient_id)
    return write_slices(stored, folder, {**shared, **pixel_format})


def _series_description(folder: Path, series_id: str) -> str:
    """``'<id>' (<n> files, "<Series Description>")`` for an error message."""
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id)
    reader = sitk.ImageFileReader()
    reader.SetFileName(names[0])
    description = ""
    try:
        reader.ReadImageInformation()
        if reader.HasMetaDataKey("0008|103e"):
            description = f', "{reader.GetMetaData("0008|103e").strip()}"'
    except RuntimeError:
        description = ", unreadable"
    return f"{series_id!r} ({len(names)} files{description})"


def read_dicom_series(folder: PathLike, series_id: str | None = None) -> sitk.Image:
    """Read one DICOM series in ``folder`` as a 3D image, slices sorted by position.

    Parameters: ``folder``, the folder of ``.dcm`` slices; ``series_id``, the Series
    Instance UID to read, required when the folder holds several series (the error
    lists them).
    DICOM grids are right-handed (slice normal = row x column): a volume written from a
    left-handed grid (direction determinant -1) comes back with its slices in the other
    order, every voxel at the same world position.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"DICOM folder not found: {folder}; write it first or check the path",
                        path=folder)
    series = list(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    if not series:
        raise DataError(f"no DICOM series in {folder}; it should hold .dcm slices of one series",
                        path=folder)
    found = "; ".join(_series_description(folder, s) for s in series)
    if series_id is None and len(series) > 1:
        raise DataError(f"{folder} holds {len(series)} DICOM series: {found}; pass "
                        "series_id=... to choose one (or keep one series per folder)",
                        path=folder)
    if series_id is not None and series_id not in series:
        raise ConfigError(f"series_id {series_id!r} is not in {folder}; it holds {found}",
                          name="series_id", path=folder)
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series_id or series[0])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(names)
    try:
        return reader.Execute()
    except RuntimeError as exc:
        raise CorruptFileError(f"could not read the DICOM series in {folder} (a corrupt "
                               "slice?); delete the folder and write it again",
                               path=folder) from exc
