"""Shared machinery of the datasets: checks, splits, manifests, standardisation."""

from __future__ import annotations

import os
import shutil
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from course_utils import io
from course_utils.data._cache import (  # noqa: F401  (re-exported for the dataset modules)
    MANIFEST,
    done_ok,
    file_entries,
    folder_lock,
    manifest_ok,
    n_workers,
    parallel_map,
    params_key,
    read_json,
    reset_folder,
    write_done,
    write_json,
)
from course_utils.errors import CorruptFileError, DataError
from course_utils.files import atomic_path
from course_utils.io import LABEL_NAMES, STANDARD_ORIENTATION  # noqa: F401  (one definition)

BASE_COLUMNS = ("subject_id",)
META_COLUMNS = ("label", "age", "sex", "split")
DEMOGRAPHIC_COLUMNS = ("IXI_ID", "SEX_ID (1=m, 2=f)", "AGE")

# ---------------------------------------------------------------------------
# Reading and checking files
# ---------------------------------------------------------------------------

_REGENERATE = (
    "delete it (or its dataset folder) and call course_utils.data.load() again "
    "to regenerate / re-download it"
)


def read_image(path: str | os.PathLike,
               header_only: bool = False) -> sitk.Image | sitk.ImageFileReader:
    """Read an image verified complete (:func:`course_utils.io.read_image`), or only its header
    (:func:`course_utils.io.read_header`). Parameters: ``path``, the file; ``header_only``."""
    return io.read_header(path) if header_only else io.read_image(path)


def write_image(image: sitk.Image, path: str | os.PathLike) -> Path:
    """Write an image atomically and verified (:func:`course_utils.io.write_image`).

    Parameters: ``image``; ``path``, the target. A full disk raises DiskFullError.
    """
    return io.write_image(image, path)


def check_finite(image: sitk.Image | str | os.PathLike, name: str | None = None) -> None:
    """Raise a DataError if the image (or the file at that path) holds NaN or infinite voxels.

    Parameters: ``image``, an image or a file; ``name``, how the message names it.
    Files are checked complete first (:func:`course_utils.io.check_complete`); NIfTI voxels
    are then read with nibabel, which keeps NaN exactly as stored.
    """
    path = None
    if isinstance(image, sitk.Image):
        array = sitk.GetArrayViewFromImage(image)
    else:
        path = Path(image)
        name = name or str(path)
        if io.is_nifti(path):
            import nibabel as nib

            io.check_complete(path)  # clear message if missing, unreadable or truncated
            try:
                array = np.asanyarray(nib.load(str(path)).dataobj)
            except (OSError, EOFError, ValueError, zlib.error) as exc:
                raise CorruptFileError(f"{path} is unreadable or corrupt ({exc}); {_REGENERATE}",
                                       path=path) from exc
        else:
            array = sitk.GetArrayViewFromImage(io.read_image(path))
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise DataError(
                f"{name or 'the image'} contains {bad} NaN or infinite voxel(s); "
                f"{_REGENERATE}, or replace them (e.g. np.nan_to_num) before training", path=path
            )


def image_columns(row: pd.Series | dict, sequences: Sequence[str] | None = None) -> list[str]:
    """The image columns of a subject row (sequence paths then the label, if any).

    Parameters: ``row``, a cohort row; ``sequences``, the sequence columns (default: every
    column that is not metadata).
    """
    keys = list(sequences) if sequences else [
        k for k in row.keys() if k not in (*BASE_COLUMNS, *META_COLUMNS)
    ]
    cols = [k for k in keys if isinstance(row.get(k), (str, os.PathLike))]
    if isinstance(row.get("label"), (str, os.PathLike)):
        cols.append("label")
    return cols


def check_subject(
    row: pd.Series | dict,
    *,
    sequences: Sequence[str] | None = None,
    read_voxels: bool = True,
) -> dict[str, Any]:
    """Check one subject: every file readable, all sharing one geometry, no NaNs.

    Parameters: ``row``, a cohort row; ``sequences``, its sequence columns (see
    :func:`image_columns`); ``read_voxels``, also read the voxels, which catches truncated
    files and NaNs. Returns the common grid (:func:`course_utils.io.grid`); raises a
    :class:`DataError` naming the file and what differs (:func:`io.check_same_geometry`).
    """
    cols = image_columns(row, sequences)
    if not cols:
        raise DataError(f"subject {row.get('subject_id')!r} has no image paths to check")
    ref = io.read_header(row[cols[0]])
    for col in cols[1:]:
        io.check_same_geometry(io.read_header(row[col]), ref, row[col], row[cols[0]])
    if read_voxels:
        for col in cols:
            io.check_complete(row[col])  # catches truncated files
            if col != "label":
                check_finite(row[col])
            else:
                read_image(row[col])
    return io.grid(ref)


def read_demographics(csv_path: str | os.PathLike) -> pd.DataFrame:
    """Read an IXI-style demographics table (.csv, .xls, .xlsx) and check its columns.

    Parameters: ``csv_path``, the table's file.
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DataError(f"demographics file {path} does not exist; {_REGENERATE}")
    try:
        if path.suffix.lower() in (".xls", ".xlsx"):
            engine = "xlrd" if path.suffix.lower() == ".xls" else None
            table = pd.read_excel(path, engine=engine)
        else:
            table = pd.read_csv(path)
    except Exception as exc:  # any parser error: report the file
        raise DataError(
            f"demographics file {path} could not be parsed ({type(exc).__name__}: {exc}); "
            f"{_REGENERATE}"
        ) from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in DEMOGRAPHIC_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"demographics file {path} lacks the column(s) {', '.join(repr(m) for m in missing)} "
            f"(it has {', '.join(repr(c) for c in table.columns)}); an IXI-style table needs "
            f"{', '.join(repr(c) for c in DEMOGRAPHIC_COLUMNS)}"
        )
    return table


def sex_from_code(code: Any) -> str:
    """IXI's SEX_ID (1=m, 2=f) as "M"/"F" ("U" when unknown). Parameters: ``code``."""
    try:
        return {1: "M", 2: "F"}.get(int(code), "U")
    except (TypeError, ValueError):
        return "U"


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------

_PATTERN = ("train", "val", "train", "test", "train")


def assign_splits(sex: Sequence[str], age: Sequence[float], ids: Sequence[str]) -> list[str]:
    """Deterministic, roughly stratified 60/20/20 split.

    Subjects are ordered by sex, then age, then id, and dealt in turn into the
    pattern train, val, train, test, train; so each split spans both sexes and
    the whole age range. With >= 10 subjects, val and test get at least 2 each.

    Parameters: ``sex``, ``age``, ``ids``, one entry per subject.
    """
    ages = [(-1.0 if not np.isfinite(a) else float(a)) for a in np.asarray(age, dtype=float)]
    order = sorted(range(len(ids)), key=lambda i: (str(sex[i]), ages[i], str(ids[i])))
    splits = [""] * len(ids)
    for rank, i in enumerate(order):
        splits[i] = _PATTERN[rank % len(_PATTERN)]
    return splits


# ---------------------------------------------------------------------------
# Standardisation: one orientation, isotropic spacing, one shape
# ---------------------------------------------------------------------------


def _round_up(n: float, multiple: int = 8) -> int:
    return int(multiple * np.ceil(n / multiple))


def standard_shape(
    df: pd.DataFrame, sequences: Sequence[str], spacing: float, multiple: int = 8
) -> list[int]:
    """The smallest shape (x, y, z; a multiple of ``multiple``) holding every subject's
    field of view after reorienting to LPS and resampling to ``spacing``.

    Parameters: ``df``, the cohort; ``sequences``, its sequence columns (the first is
    measured); ``spacing``, mm; ``multiple``, the shape's divisor.
    """
    from course_utils.preprocessing import reorient

    extent = np.zeros(3)
    for _, row in df.iterrows():
        reader = read_image(row[sequences[0]], header_only=True)
        dummy = sitk.Image([1, 1, 1], sitk.sitkUInt8)
        dummy.SetDirection(reader.GetDirection())
        oriented = reorient(dummy)
        # the permutation DICOMOrient applies, read off the direction matrices
        d_old = np.array(reader.GetDirection()).reshape(3, 3)
        d_new = np.array(oriented.GetDirection()).reshape(3, 3)
        perm = np.abs(np.round(d_new.T @ d_old)).astype(int)  # new axis <- old axis
        size = perm @ (np.array(reader.GetSize()) * np.array(reader.GetSpacing()))
        extent = np.maximum(extent, size)
    return [_round_up(round(e / spacing), multiple) for e in extent]


def standardize_subject(task: dict[str, Any]) -> dict[str, str]:
    """Reorient, resample and crop/pad one subject's files (a worker task).

    Parameters: ``task``, {"files": {column: source}, "out_dir", "spacing", "shape"}.
    """
    from course_utils.preprocessing import crop_or_pad, reorient, resample_isotropic

    out = {}
    for col, src in task["files"].items():
        dst = Path(task["out_dir"]) / _standard_name(src)
        is_label = col == "label"
        if not is_label:
            check_finite(src)  # the file, with nibabel: ITK's NIfTI reader turns NaN into 0
        image = read_image(src)
        image = reorient(image, STANDARD_ORIENTATION)
        image = resample_isotropic(image, task["spacing"], is_label=is_label)
        image = crop_or_pad(image, task["shape"])
        if not is_label:
            array = sitk.GetArrayFromImage(image)
            if image.GetPixelID() in (sitk.sitkInt16, sitk.sitkUInt16, sitk.sitkUInt8):
                # B-spline can overshoot: clip into the original integer range
                info = np.iinfo(array.dtype)
                clipped = sitk.GetImageFromArray(
                    np.clip(array, max(info.min, 0), info.max).astype(array.dtype)
                )
                clipped.CopyInformation(image)
                image = clipped
        write_image(image, dst)
        out[col] = str(dst)
    return out


def _standard_name(src: str | os.PathLike) -> str:
    """The standardized copy's file name: the source's, always ``.nii.gz``."""
    name = Path(src).name
    return name if name.endswith(".nii.gz") else name.split(".")[0] + ".nii.gz"


def _standard_paths(row: pd.Series, cols: Sequence[str], out_root: Path) -> dict[str, str]:
    """{column: path of its standardized copy} for one subject's files."""
    return {col: str(out_root / row["subject_id"] / _standard_name(row[col]))
            for col in cols if isinstance(row[col], str)}


def _write_standardized(df: pd.DataFrame, out_root: Path, cols: Sequence[str],
                        params: dict[str, Any], *, workers: int | None,
                        progress: bool) -> None:
    """Standardize every subject (worker processes), then the manifest, written last."""
    import time

    reset_folder(out_root)
    tasks = [{"files": {c: row[c] for c in cols if isinstance(row[c], str)},
              "out_dir": str(out_root / row["subject_id"]),
              "spacing": params["spacing"], "shape": params["shape"]}
             for _, row in df.iterrows()]
    parallel_map(standardize_subject, tasks, workers=workers, progress=progress,
                 desc="standardizing")
    written = [Path(p) for _, row in df.iterrows()
               for p in _standard_paths(row, cols, out_root).values()]
    demo = Path(df.attrs["root"]) / "demographics.csv"
    if demo.is_file():
        with atomic_path(out_root / "demographics.csv") as tmp:
            shutil.copyfile(demo, tmp)
        written.append(out_root / "demographics.csv")
    write_json(out_root / MANIFEST, {
        "params": params,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "files": file_entries(out_root, written),
    })


def standardize_cohort(
    df: pd.DataFrame,
    out_root: Path,
    *,
    spacing: float,
    shape: Sequence[int] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> pd.DataFrame:
    """Write (or reuse) the standardized copy of a cohort under ``out_root``; return its table.

    Parameters: ``df``, the cohort table (``attrs``: sequences, root); ``out_root``, the
    folder of the copy; ``spacing``, isotropic mm; ``shape`` (x, y, z; default: the
    smallest holding every subject, :func:`standard_shape`); ``progress`` bar;
    ``workers``, processes (default: from the machine).
    """
    sequences = list(df.attrs["sequences"])
    cols = sequences + (["label"] if df["label"].notna().any() else [])
    if shape is None:
        shape = standard_shape(df, sequences, spacing)
    source_manifest = read_json(Path(df.attrs["root"]) / MANIFEST) or {}
    params = {
        "orientation": STANDARD_ORIENTATION,
        "spacing": float(spacing),
        "shape": [int(s) for s in shape],
        "source": source_manifest.get("created", ""),
        "source_params": source_manifest.get("params", {}),
        "subjects": list(df["subject_id"]),
    }
    out_root = Path(out_root)
    std = df.copy()
    std.attrs = dict(df.attrs)
    std.attrs.update(root=str(out_root), shape=[int(s) for s in shape],
                     orientation=STANDARD_ORIENTATION, standardized=True)

    with folder_lock(out_root):
        if manifest_ok(out_root, params) is None:
            _write_standardized(df, out_root, cols, params, workers=workers, progress=progress)
    for i, row in df.iterrows():
        for col, path in _standard_paths(row, cols, out_root).items():
            std.at[i, col] = path
    return std
