"""MRBrainS13: the challenge's training data, placed by the user after registering.

Register at the challenge site, download the training data and put it so that

    <root>/TrainingData/<n>/T1.nii            (n = 1..5; .nii or .nii.gz)
    <root>/TrainingData/<n>/T1_IR.nii
    <root>/TrainingData/<n>/T2_FLAIR.nii
    <root>/TrainingData/<n>/LabelsForTraining.nii

where ``<root>`` is the ``root`` option or ``$COURSE_DATA_DIR/mrbrains13``.

Label mapping (challenge training labels -> course classes)
------------------------------------------------------------
====  ====================  =====================
 in   challenge class        course class
====  ====================  =====================
 0    background             0 background
 1    cortical grey matter   2 grey matter
 2    basal ganglia          2 grey matter
 3    white matter           3 white matter
 4    white-matter lesions   4 lesion
 5    cerebrospinal fluid    1 CSF
 6    ventricles             1 CSF
 7    cerebellum             2 grey matter (mostly cortex)
 8    brainstem              3 white matter (mostly tracts)
====  ====================  =====================

This follows the challenge's own 3-class evaluation (GM = cortical GM + basal
ganglia; WM = WM + lesions; CSF = CSF + ventricles), keeping lesions apart;
cerebellum and brainstem, which that evaluation leaves out, go to their dominant
tissue. No age or sex is published: ``age`` is NaN and ``sex`` "U".
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from course_utils import checks, config
from course_utils.data import _cache, _common
from course_utils.errors import ConfigError, DataError

SEQUENCES = ("t1", "t1_ir", "t2_flair")
SOURCE_NAMES = {"t1": "T1", "t1_ir": "T1_IR", "t2_flair": "T2_FLAIR", "label": "LabelsForTraining"}
LABEL_MAP = {0: 0, 1: 2, 2: 2, 3: 3, 4: 4, 5: 1, 6: 1, 7: 2, 8: 3}
OPTIONS = ("root", "spacing", "workers")
REGISTER_HINT = (
    "register at the MRBrainS13 challenge site, download the training data and place it as "
    "<root>/TrainingData/<n>/{T1,T1_IR,T2_FLAIR,LabelsForTraining}.nii "
    "(root: the `root` option or $COURSE_DATA_DIR/mrbrains13)"
)


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in (".nii", ".nii.gz"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def find_subjects(root: Path) -> dict[str, dict[str, Path]]:
    """Validate the layout under ``root``; raise a DataError saying exactly what is missing."""
    root = Path(root)
    training = root / "TrainingData"
    if not training.is_dir():
        raise DataError(f"{training} does not exist; {REGISTER_HINT}")
    folders = sorted((p for p in training.iterdir() if p.is_dir()),
                     key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0,
                                    p.name))
    if not folders:
        raise DataError(f"{training} holds no subject folders (1, 2, ...); {REGISTER_HINT}")
    subjects, missing = {}, []
    for folder in folders:
        files = {key: _find(folder, stem) for key, stem in SOURCE_NAMES.items()}
        lacking = [f"{SOURCE_NAMES[k]}.nii" for k, v in files.items() if v is None]
        if lacking:
            missing.append(f"{folder}: {', '.join(lacking)}")
        else:
            subjects[folder.name] = files
    if missing:
        raise DataError("MRBrainS13 files are missing - " + "; ".join(missing)
                        + f". {REGISTER_HINT}")
    return subjects


def map_labels(label: sitk.Image, path: Path) -> sitk.Image:
    """Map the challenge ``label`` image (read from ``path``) onto the course classes."""
    array = sitk.GetArrayFromImage(label)
    unknown = sorted(set(np.unique(array).tolist()) - set(LABEL_MAP))
    if unknown:
        raise DataError(
            f"{path} holds label values {unknown} outside the MRBrainS13 training labels 0-8; "
            "is it LabelsForTraining.nii?"
        )
    lut = np.zeros(max(LABEL_MAP) + 1, np.uint8)
    for src, dst in LABEL_MAP.items():
        lut[src] = dst
    out = sitk.GetImageFromArray(lut[array.astype(np.int64)])
    out.CopyInformation(label)
    return out


def check_apart(source: Path, dest: Path) -> None:
    """Refuse a ``dest`` that holds the data placed in ``source``, or lies in its TrainingData."""
    src, out = Path(source).resolve(), Path(dest).resolve()
    if out == src or out in src.parents or (src / "TrainingData") in [out, *out.parents]:
        raise ConfigError(
            f"dest {dest} overlaps the MRBrainS13 data you placed in {source}; the course "
            "writes its labels into dest (and may empty it), and the challenge data cannot "
            "be downloaded again without registering. Choose a separate dest, e.g. "
            f"{src / 'course'}, or leave it unset", name="dest", path=dest)


def _write_labels(root: Path, params: dict[str, Any], subjects: dict[str, dict[str, Path]]) -> None:
    """Write every subject's label mapped to the course classes, then the manifest."""
    _common.reset_folder(root)
    written = []
    for sid, files in subjects.items():
        label = _common.read_image(files["label"])
        written.append(_common.write_image(map_labels(label, files["label"]),
                                           root / sid / "label.nii.gz"))
    _common.write_json(root / _common.MANIFEST, {
        "params": params,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z") + f"/{time.time_ns()}",
        "files": _common.file_entries(root, written),
    })


def load(preset: str, *, dest: Path | None = None, progress: bool = True,
         **options: Any) -> pd.DataFrame:
    """Validate the placed data, write course labels into the cache, return the table.

    Parameters: ``preset``, ``"ci"``, ``"binder"`` or ``"full"``; ``dest``, the folder to
    write (default: the cache); ``progress``, print progress; ``options``, see :data:`OPTIONS`.
    """
    _cache.check_option_names(options, OPTIONS, "mrbrains13")
    source = Path(options.get("root") or config.data_dir() / "mrbrains13").expanduser()
    spacing = checks.number(options.get("spacing") or config.COMMON[preset]["spacing"],
                            "spacing", minimum=0.5, maximum=8.0)
    _cache.workers_option(options.get("workers"))
    root = Path(dest) if dest is not None else config.data_dir() / "mrbrains13" / "course"
    check_apart(source, root)
    subjects = find_subjects(source)
    params = {
        "source": str(source.resolve()),
        "files": {sid: {k: [str(p), p.stat().st_size, int(p.stat().st_mtime)]
                        for k, p in files.items()} for sid, files in subjects.items()},
    }
    _cache.build_once(root, params, lambda: _write_labels(root, params, subjects))
    rows = []
    for sid, files in subjects.items():
        row: dict[str, Any] = {"subject_id": f"mrbrains13_{sid}"}
        row.update({k: str(files[k]) for k in SEQUENCES})
        row["label"] = str(root / sid / "label.nii.gz")
        row.update(age=float("nan"), sex="U")
        rows.append(row)
    df = pd.DataFrame(rows)
    df["split"] = _common.assign_splits(list(df["sex"]), list(df["age"]), list(df["subject_id"]))
    df.attrs.update(name="mrbrains13", sequences=list(SEQUENCES), spacing=spacing,
                    root=str(root), source=str(source))
    return df
