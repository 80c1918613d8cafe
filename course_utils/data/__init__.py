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

from course_utils import config
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

    ``standardize=True`` returns a derived copy reoriented to LPS, resampled to the
    preset's isotropic spacing and cropped/padded to one common shape.
    ``dest`` overrides the cache folder; ``options`` are dataset-specific
    (synthetic: ``n_subjects``, ``spacing``, ``seed``).
    """
    key = str(name).strip().lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    preset = config.current_preset(preset)
    dest_path = Path(dest).expanduser() if dest is not None else None
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


def check_cohort(df: pd.DataFrame, *, read_voxels: bool = True, progress: bool = False) -> None:
    """Run :func:`check_subject` on every row (readable files, one geometry, no NaNs)."""
    from tqdm.auto import tqdm

    for _, row in tqdm(df.iterrows(), total=len(df), disable=not progress, desc="checking"):
        check_subject(row, sequences=df.attrs.get("sequences"), read_voxels=read_voxels)
