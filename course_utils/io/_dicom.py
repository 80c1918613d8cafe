"""DICOM series: one file per slice, written with the geometry tags, read back as one 3D image."""

from __future__ import annotations

import zlib
from pathlib import Path

import SimpleITK as sitk

from course_utils.errors import ConfigError, CorruptFileError, DataError
from course_utils.files import atomic_path
from course_utils.io._constants import PathLike
from course_utils.io._geometry import require_3d


def _dicom_number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


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
