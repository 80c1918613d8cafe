"""MRBrainS13 placed by the user: layout validation, label mapping, standardisation."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import snapshot, write_nifti

from course_utils import data
from course_utils.data.mrbrains13 import LABEL_MAP
from course_utils.errors import ConfigError, DataError

# the challenge's voxels: 0.958 x 0.958 mm in plane, 3 mm slices
_write = partial(write_nifti, spacing=(0.958, 0.958, 3.0), origin=(-100.0, -110.0, 20.0))


@pytest.fixture()
def placed(tmp_path: Path) -> Path:
    """A folder laid out like the challenge download: 3 subjects, uncompressed .nii."""
    root = tmp_path / "mrbrains13"
    rng = np.random.default_rng(0)
    shape = (8, 40, 36)  # z, y, x: thick axial slices like the challenge data
    for n in (1, 2, 3):
        folder = root / "TrainingData" / str(n)
        folder.mkdir(parents=True)
        labels = rng.integers(0, 9, size=shape).astype(np.uint8)
        labels[:, :4] = 0
        _write(labels, folder / "LabelsForTraining.nii")
        for name in ("T1", "T1_IR", "T2_FLAIR"):
            _write((labels * 100 + rng.normal(0, 5, shape)).astype(np.float32),
                   folder / f"{name}.nii")
    return root


def test_layout_labels_and_table(placed: Path, tmp_path: Path) -> None:
    df = data.load("mrbrains13", "ci", root=placed, dest=tmp_path / "cache", progress=False)
    assert list(df.columns) == ["subject_id", "t1", "t1_ir", "t2_flair", "label", "age", "sex",
                                "split"]
    assert len(df) == 3 and set(df["sex"]) == {"U"} and df["age"].isna().all()
    assert df.attrs["name"] == "mrbrains13" and df.attrs["sequences"] == ["t1", "t1_ir",
                                                                           "t2_flair"]
    for _, row in df.iterrows():
        data.check_subject(row)
        source = sitk.GetArrayFromImage(sitk.ReadImage(
            str(placed / "TrainingData" / row["subject_id"].split("_")[-1]
                / "LabelsForTraining.nii")))
        mapped = sitk.GetArrayFromImage(sitk.ReadImage(row["label"]))
        for src, dst in LABEL_MAP.items():
            assert np.all(mapped[source == src] == dst)
        assert set(np.unique(mapped)) <= {0, 1, 2, 3, 4}
    # explicit mapping facts
    assert LABEL_MAP[4] == 4 and LABEL_MAP[5] == LABEL_MAP[6] == 1 and LABEL_MAP[1] == 2
    std = data.load("mrbrains13", "ci", root=placed, dest=tmp_path / "cache",
                    standardize=True, progress=False)
    sizes = {sitk.ReadImage(p).GetSize() for p in std["t1"]}
    assert len(sizes) == 1
    image = sitk.ReadImage(std["label"][0])
    assert image.GetSpacing() == pytest.approx((4.0, 4.0, 4.0))
    assert set(np.unique(sitk.GetArrayFromImage(image))) <= {0, 1, 2, 3, 4}


def test_default_root_is_under_the_data_dir(placed: Path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(placed.parent))
    df = data.load("mrbrains13", "ci", progress=False)
    assert len(df) == 3 and Path(df.attrs["root"]).is_relative_to(placed.parent)


def test_missing_files_are_listed(placed: Path, tmp_path: Path) -> None:
    (placed / "TrainingData" / "2" / "T1_IR.nii").unlink()
    (placed / "TrainingData" / "3" / "LabelsForTraining.nii").unlink()
    with pytest.raises(DataError, match=r"2: T1_IR\.nii.*3: LabelsForTraining\.nii"):
        data.load("mrbrains13", "ci", root=placed, dest=tmp_path / "c", progress=False)
    with pytest.raises(DataError, match=r"TrainingData does not exist.*register"):
        data.load("mrbrains13", "ci", root=tmp_path / "nothing", progress=False)


def test_foreign_labels_and_bad_options(placed: Path, tmp_path: Path) -> None:
    path = placed / "TrainingData" / "1" / "LabelsForTraining.nii"
    _write(np.full((8, 40, 36), 12, np.uint8), path)
    with pytest.raises(DataError, match=r"LabelsForTraining\.nii.*\[12\]"):
        data.load("mrbrains13", "ci", root=placed, dest=tmp_path / "c", progress=False)
    with pytest.raises(ConfigError, match="root"):
        data.load("mrbrains13", "ci", roots=placed)


@pytest.mark.parametrize("where", ["root itself", "above root", "inside TrainingData"])
def test_dest_overlapping_the_placed_data_is_refused(placed: Path, where: str) -> None:
    """The challenge data needs registration to download again: never write over it."""
    dest = {"root itself": placed, "above root": placed.parent,
            "inside TrainingData": placed / "TrainingData" / "1" / "course"}[where]
    before = snapshot(placed)
    with pytest.raises(ConfigError, match=r"overlaps the MRBrainS13 data.*separate dest") as info:
        data.load("mrbrains13", "ci", root=placed, dest=dest, progress=False)
    assert info.value.name == "dest"
    assert snapshot(placed) == before


def test_dest_holding_other_files_is_refused(placed: Path, tmp_path: Path) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(DataError, match=r"thesis already holds files that course_utils did not"):
        data.load("mrbrains13", "ci", root=placed, dest=thesis, progress=False)
    assert (thesis / "chapter1.tex").read_text(encoding="utf-8") == "years of work"
