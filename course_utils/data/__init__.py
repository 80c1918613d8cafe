"""Datasets of the course: one call returns a table of subjects with paths to their images.

>>> from course_utils import data
>>> df = data.load("synthetic", "ci")                    # offline, generated once, cached
>>> df = data.load("synthetic", "ci", standardize=True)  # LPS, isotropic, one common shape

Datasets: ``synthetic`` (default, offline), ``ixi`` (downloads the IXI database on
request), ``mrbrains13`` (challenge data you place yourself). Every table has the
columns ``subject_id``, one column per sequence (paths to .nii.gz), ``label``
(path or None), ``age``, ``sex`` ("M"/"F"/"U"), ``split`` ("train"/"val"/"test");
``df.attrs`` holds ``name``, ``preset``, ``sequences``, ``label_names``,
``spacing`` and ``root`` (the cache folder of the files listed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from course_utils import checks, config
from course_utils.data._common import (
    LABEL_NAMES,
    check_finite,
    check_subject,
    read_demographics,
    read_image,
    standardize_cohort,
)
from course_utils.errors import ConfigError

DATASETS = ("synthetic", "ixi", "mrbrains13")

__all__ = [
    "DATASETS",
    "LABEL_NAMES",
    "check_cohort",
    "check_finite",
    "check_subject",
    "load",
    "read_demographics",
    "read_image",
]


def load(
    name: str = "synthetic",
    preset: str | None = None,
    *,
    standardize: bool = False,
    dest: str | os.PathLike | None = None,
    progress: bool = True,
    **options: Any,
) -> pd.DataFrame:
    """Prepare dataset ``name`` at ``preset`` (cached) and return one row per subject.

    Parameters: ``name`` one of :data:`DATASETS`; ``preset`` ci, binder or full (default:
    ``$COURSE_PRESET``); ``standardize=True`` returns a derived copy reoriented to LPS,
    resampled to the preset's isotropic spacing and cropped/padded to one common shape;
    ``dest`` a new or empty folder (or one the course made) to use instead of the cache,
    never a folder of yours: it is refused, never emptied; ``progress`` show bars;
    ``options`` dataset-specific (synthetic: ``n_subjects``, ``spacing``, ``seed``,
    ``workers``; see each dataset module). Scripts that generate data must guard their
    top level with ``if __name__ == "__main__":`` (worker processes re-import them).
    """
    key = checks.option(name.strip().lower() if isinstance(name, str) else name, DATASETS,
                        "dataset")
    standardize = checks.boolean(standardize, "standardize")
    progress = checks.boolean(progress, "progress")
    preset = config.current_preset(preset)
    dest_path = _dest_folder(dest)
    shape = None
    if key == "synthetic":
        from course_utils.data import synthetic

        df = synthetic.load(preset, dest=dest_path, progress=progress, **options)
        if standardize:  # the template's grid: every subject lands on it
            shape = synthetic.standard_shape(df.attrs["spacing"])
    elif key == "ixi":
        from course_utils.data import ixi

        df = ixi.load(preset, dest=dest_path, progress=progress, **options)
    else:
        from course_utils.data import mrbrains13

        df = mrbrains13.load(preset, dest=dest_path, progress=progress, **options)
    df.attrs.update(name=key, preset=preset, label_names=dict(LABEL_NAMES))
    if standardize:
        out = Path(df.attrs["root"]) / f"standardized_{df.attrs['spacing']:g}mm"
        df = standardize_cohort(df, out, spacing=df.attrs["spacing"], shape=shape,
                                progress=progress, workers=options.get("workers"))
    return df


def _dest_folder(dest: str | os.PathLike | None) -> Path | None:
    """``dest`` as a path; a regular file (or not a path at all) is refused by name."""
    if dest is None:
        return None
    if not isinstance(dest, (str, os.PathLike)) or not str(dest).strip():
        raise ConfigError(f"dest must be a folder path, got {dest!r}", name="dest")
    path = Path(os.path.abspath(Path(dest).expanduser()))  # "." and ".." get a name
    if path.exists() and not path.is_dir():
        raise ConfigError(f"dest {path} is a file, not a folder; choose a new or empty folder",
                          name="dest", path=path)
    return path


def check_cohort(df: pd.DataFrame, *, read_voxels: bool = True, progress: bool = False) -> None:
    """Run :func:`check_subject` on every row of ``df`` (readable files, one geometry, no NaNs).

    Parameters: ``df`` a table from :func:`load`; ``read_voxels`` also read the voxels
    (catches truncated files and NaNs); ``progress`` show a bar.
    """
    from course_utils.environment import progress_bar

    for _, row in progress_bar(df.iterrows(), total=len(df), disable=not progress, desc="checking"):
        check_subject(row, sequences=df.attrs.get("sequences"), read_voxels=read_voxels)
