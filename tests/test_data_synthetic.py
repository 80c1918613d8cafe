"""The synthetic cohort: contents, signal, headers, determinism, cache, bad input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from course_utils import data
from course_utils.data import synthetic
from course_utils.data.synthetic import norms
from course_utils.errors import ConfigError, CourseError, DataError

pytestmark = pytest.mark.slow  # generates the ci cohort (24 subjects) once per session


@pytest.fixture(scope="session")
def ci_cohort(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    dest = tmp_path_factory.mktemp("synthetic_ci")
    return data.load("synthetic", "ci", dest=dest, progress=False)


@pytest.fixture(scope="session")
def ci_standardized(ci_cohort: pd.DataFrame) -> pd.DataFrame:
    return data.load("synthetic", "ci", dest=ci_cohort.attrs["root"], standardize=True,
                     progress=False)


def _array(path: str) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(path))


def test_table_columns_and_attrs(ci_cohort: pd.DataFrame) -> None:
    df = ci_cohort
    assert list(df.columns) == ["subject_id", "t1", "t1_ir", "t2_flair", "label", "age", "sex",
                                "split"]
    assert len(df) >= 24 and df["subject_id"].is_unique
    assert df.attrs["name"] == "synthetic" and df.attrs["preset"] == "ci"
    assert df.attrs["sequences"] == ["t1", "t1_ir", "t2_flair"]
    assert df.attrs["label_names"] == {0: "background", 1: "CSF", 2: "grey matter",
                                       3: "white matter", 4: "lesion"}
    assert df.attrs["spacing"] == 4.0
    for col in ("t1", "t1_ir", "t2_flair", "label"):
        assert all(Path(p).is_file() and p.endswith(".nii.gz") for p in df[col])
    assert set(df["sex"]) == {"M", "F"}
    assert df["age"].between(20, 86).all() and df["age"].max() - df["age"].min() > 40
    counts = df["split"].value_counts()
    assert set(counts.index) == {"train", "val", "test"}
    assert counts["val"] >= 2 and counts["test"] >= 2 and counts["train"] >= 0.5 * len(df)
    for split in ("train", "val", "test"):  # stratified-ish: both sexes everywhere
        assert set(df.loc[df["split"] == split, "sex"]) == {"M", "F"}


def test_demographics_csv_has_ixi_columns(ci_cohort: pd.DataFrame) -> None:
    table = data.read_demographics(Path(ci_cohort.attrs["root"]) / "demographics.csv")
    assert len(table) == len(ci_cohort)
    assert set(table["SEX_ID (1=m, 2=f)"]) == {1, 2}


def test_labels_and_lesions(ci_cohort: pd.DataFrame) -> None:
    lesion, brain, with_lesion = 0, 0, 0
    values: set[int] = set()
    for path in ci_cohort["label"]:
        labels = _array(path)
        values |= set(np.unique(labels).tolist())
        n = int(np.count_nonzero(labels == 4))
        lesion += n
        brain += int(np.count_nonzero(labels))
        with_lesion += n > 0
    assert values == {0, 1, 2, 3, 4}
    assert 0 < lesion / brain < 0.01
    assert with_lesion >= len(ci_cohort) // 2  # present in most subjects


def test_contrasts(ci_cohort: pd.DataFrame) -> None:
    row = ci_cohort.iloc[0]
    labels = _array(row["label"])
    means = {s: [float(_array(row[s])[labels == k].mean()) for k in (1, 2, 3)]
             for s in ("t1", "t1_ir", "t2_flair")}
    csf, gm, wm = means["t1"]
    assert csf < gm < wm  # T1: CSF dark, WM bright
    csf, gm, wm = means["t2_flair"]
    assert csf < wm < gm  # FLAIR: CSF suppressed, GM brighter than WM


def _label_volumes(df: pd.DataFrame) -> pd.DataFrame:
    """Millilitres of CSF, grey matter, white matter and lesion per subject, from the labels."""
    rows = []
    for path in df["label"]:
        image = sitk.ReadImage(path)
        counts = np.bincount(sitk.GetArrayViewFromImage(image).ravel(), minlength=5)
        rows.append(counts[1:5] * np.prod(image.GetSpacing()) / 1000)
    vol = pd.DataFrame(rows, columns=["csf", "gm", "wm", "lesion"])
    vol["icv"] = vol.sum(axis=1)
    return vol


def test_tissue_volumes_follow_adult_norms(ci_cohort: pd.DataFrame) -> None:
    vol = _label_volumes(ci_cohort)
    # published adult ranges (data/README.md): the template alone gave ~1,100 ml of GM
    assert 550 <= vol["gm"].mean() <= 800
    assert 400 <= (vol["wm"] + vol["lesion"]).mean() <= 600
    assert 150 <= vol["csf"].mean() <= 350
    assert 1250 <= vol["icv"].mean() <= 1650
    ratio = vol["gm"] / (vol["wm"] + vol["lesion"])
    assert 1.1 <= ratio.mean() <= 1.6
    # with age grey matter thins and CSF grows, relative to the head
    age = ci_cohort["age"].to_numpy()
    assert np.corrcoef(age, vol["gm"] / vol["icv"])[0, 1] < -0.6
    assert np.corrcoef(age, vol["csf"] / vol["icv"])[0, 1] > 0.6


def test_norms_stay_in_published_ranges() -> None:
    ages = np.linspace(*norms.AGE_RANGE_YEARS, 67)
    grey = norms.grey_fraction(ages) * norms.ICV_ML
    white = norms.white_fraction(ages) * norms.ICV_ML
    assert grey.min() >= 550 and grey.max() <= 800 and np.all(np.diff(grey) < 0)
    assert white.min() >= 400 and white.max() <= 600
    assert np.all(np.diff(norms.csf_fraction(ages)) > 0)  # CSF only grows
    assert np.all(np.diff(norms.wmh_median_ml(ages)) > 0)
    assert norms.wmh_median_ml(25) < 1.0 and norms.wmh_median_ml(75) > 5.0


def test_lesion_draws_rise_with_age_and_are_heavy_tailed() -> None:
    draws = [synthetic.subject_parameters(0, i, 2.0) for i in range(3000)]
    age = np.array([p["age"] for p in draws])
    ml = np.array([p["lesion_ml"] for p in draws])
    medians = [np.median(ml[(age >= lo) & (age < lo + 11)]) for lo in (20, 31, 42, 53, 64, 75)]
    assert np.all(np.diff(medians) > 0), medians  # monotone in expectation
    assert medians[0] < 0.6 and medians[-1] > 5.0
    old = ml[age >= 70]
    assert np.mean(old > 20.0) > 0.08  # tens of ml in a sizeable minority past 70
    # biological age: one named constant, the spread the draws really have
    bio = np.array([20 + 66 * p["tb"] for p in draws])
    assert abs(np.std(bio - age) - synthetic.BIOLOGICAL_AGE_SD_YEARS) < 0.3


def test_head_scale_draws_follow_the_exported_sex_constants() -> None:
    # notebook 08 prints the generator's expected size difference from these two names
    draws = [synthetic.subject_parameters(0, i, 2.0) for i in range(3000)]
    log_scale = np.array([p["log_scale"] for p in draws])
    male = np.array([p["sex"] == "M" for p in draws])
    assert abs(log_scale[male].mean() - synthetic.SEX_SCALE) < 0.003
    assert abs(log_scale[~male].mean() + synthetic.SEX_SCALE) < 0.003
    assert abs(log_scale[male].std() - synthetic.SCALE_SD) < 0.003
    assert abs(log_scale[~male].std() - synthetic.SCALE_SD) < 0.003


def test_lesion_load_rises_with_age_and_stays_rare(ci_cohort: pd.DataFrame) -> None:
    vol = _label_volumes(ci_cohort)
    fraction = vol["lesion"] / (vol["csf"] + vol["gm"] + vol["wm"] + vol["lesion"])
    assert np.median(fraction) < 0.005  # rare: class balancing is still needed
    age = ci_cohort["age"].to_numpy()
    ranks = pd.Series(age).rank(), vol["lesion"].rank()
    assert np.corrcoef(*ranks)[0, 1] > 0.5
    old, young = vol["lesion"][age >= 60], vol["lesion"][age < 40]
    assert old.mean() > 3 * young.mean()


def test_lesions_bright_on_flair_dark_on_t1_against_nearby_white_matter(
        ci_cohort: pd.DataFrame) -> None:
    ratios = []  # lesion / white matter within 2 voxels, per subject: (T1, FLAIR)
    for _, row in ci_cohort.iterrows():
        lab = _array(row["label"])
        lesion = lab == 4
        if lesion.sum() < 3:
            continue
        near = ndi.binary_dilation(lesion, iterations=2) & (lab == 3)
        t1, flair = _array(row["t1"]), _array(row["t2_flair"])
        ratios.append((t1[lesion].mean() / t1[near].mean(),
                       flair[lesion].mean() / flair[near].mean()))
    t1_ratio, flair_ratio = np.array(ratios).T
    assert len(ratios) >= len(ci_cohort) // 2
    # 4 mm voxels mix small lesions with white matter and CSF: most, not all, subjects
    assert np.median(t1_ratio) < 0.95 and np.mean(t1_ratio < 1.0) >= 0.8
    assert np.median(flair_ratio) > 1.15 and np.mean(flair_ratio > 1.05) >= 0.8


def test_lesions_are_irregular_and_periventricular() -> None:
    from scipy.spatial import ConvexHull

    tpl = synthetic.prepare_template(2.0)
    draws = [synthetic.subject_parameters(0, i, 2.0) for i in range(200)]
    heavy = dict(max(draws, key=lambda p: p["lesion_ml"]), lesion_ml=20.0, log_scale=0.0)
    lesion = synthetic.render_lesions(np.random.default_rng(heavy["stream"]), tpl, heavy) >= 0.5
    ml = lesion.sum() * 8 / 1000 * synthetic.head_scale(tpl, heavy) ** 3
    assert 15 < ml < 25  # the drawn volume, through the head scale
    near = ndi.distance_transform_edt(tpl["lesion_prior"] < 1.0, sampling=2.0) <= 10
    assert (lesion & near).sum() > 0.5 * lesion.sum()  # mostly periventricular caps/bands
    parts, n = ndi.label(lesion)
    assert n >= 3  # confluent areas and separate foci, not one blob
    biggest = np.argwhere(parts == 1 + np.argmax(np.bincount(parts.ravel())[1:]))
    solidity = len(biggest) / ConvexHull(biggest).volume
    assert solidity < 0.6  # irregular: a ball fills ~all of its hull


def test_labels_keep_every_tissue_volume() -> None:
    # background | thin CSF | GM | WM shells, blurred: partial volume at every border
    grid = np.linalg.norm(np.indices((48, 48, 48)) - 23.5, axis=0)
    hard = np.stack([grid > 22, (grid > 20) & (grid <= 22), (grid > 17) & (grid <= 20),
                     grid <= 17, np.zeros_like(grid, bool)]).astype(np.float32)
    soft = np.stack([ndi.gaussian_filter(h, 2.0) for h in hard])
    soft /= np.maximum(soft.sum(0), 1e-6)
    volumes = soft.reshape(5, -1).sum(1)
    argmax = np.bincount(soft.argmax(0).ravel(), minlength=5)
    assert argmax[2] > 1.05 * volumes[2] and argmax[1] < 0.7 * volumes[1]  # GM takes CSF
    ours = np.bincount(synthetic.labels(soft).ravel(), minlength=5)
    np.testing.assert_allclose(ours[:4], volumes[:4], rtol=0.02)


def test_ventricle_push_does_not_fold_the_anatomy() -> None:
    tpl = synthetic.prepare_template(2.0)
    alpha = synthetic.ventricle_push(1.5)  # the oldest biological age and then some
    grads = tpl["grad_v"]  # per mm
    jac = np.empty((3, 3, *grads[0].shape), np.float32)
    for i in range(3):
        for j, d in enumerate(np.gradient(grads[i], 2.0)):
            jac[i, j] = (i == j) + alpha * d
    det = np.linalg.det(np.moveaxis(jac, (0, 1), (-2, -1)))
    assert det.min() > 0.05  # a one-to-one map: no folded, doubled ventricles


def test_header_variety_and_geometry(ci_cohort: pd.DataFrame) -> None:
    anisotropic, rotated, origins = 0, 0, set()
    for _, row in ci_cohort.iterrows():
        geo = data.check_subject(row, read_voxels=False)
        anisotropic += len(set(np.round(geo["spacing"], 3))) > 1
        rotated += not np.allclose(geo["direction"], np.eye(3).ravel())
        origins.add(tuple(np.round(geo["origin"], 2)))
    assert anisotropic >= 1 and rotated >= 1 and len(origins) >= len(ci_cohort) // 2


def _volumes(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    brain, csf = [], []
    for path in df["label"]:
        image = sitk.ReadImage(path)
        labels = sitk.GetArrayViewFromImage(image)
        ml = np.prod(image.GetSpacing()) / 1000
        brain.append(np.count_nonzero(labels) * ml)
        csf.append(np.count_nonzero(labels == 1) * ml)
    return np.array(brain), np.array(csf)


def test_age_and_sex_leave_signal(ci_cohort: pd.DataFrame) -> None:
    brain, csf = _volumes(ci_cohort)
    assert np.corrcoef(ci_cohort["age"], csf)[0, 1] > 0.5
    men = (ci_cohort["sex"] == "M").to_numpy()
    assert brain[men].mean() > brain[~men].mean()


def test_standardized_cohort_shares_one_grid(ci_cohort: pd.DataFrame,
                                             ci_standardized: pd.DataFrame) -> None:
    std = ci_standardized
    assert list(std.columns) == list(ci_cohort.columns)
    assert (std["age"] == ci_cohort["age"]).all() and (std["split"] == ci_cohort["split"]).all()
    geos = [data.check_subject(row, read_voxels=False) for _, row in std.iterrows()]
    assert len({g["size"] for g in geos}) == 1
    assert all(np.allclose(g["spacing"], 4.0) for g in geos)
    assert all(np.allclose(g["direction"], np.eye(3).ravel()) for g in geos)
    assert tuple(std.attrs["shape"]) == geos[0]["size"]
    # nearest-neighbour labels: no new values; volumes close to the raw ones
    raw_brain, raw_csf = _volumes(ci_cohort)
    std_brain, std_csf = _volumes(std)
    assert np.allclose(std_brain, raw_brain, rtol=0.1)
    stacked = np.stack([_array(p) for p in std["t1"]])  # what the notebooks do
    assert stacked.shape[0] == len(std)
    # the anatomy lands in the same place: mean label overlap across subjects is high
    brains = np.stack([_array(p) > 0 for p in std["label"]])
    mean_mask = brains.mean(0) > 0.5
    dice = [2 * (b & mean_mask).sum() / (b.sum() + mean_mask.sum()) for b in brains]
    assert min(dice) > 0.8


def test_cache_is_reused_and_load_is_fast(ci_cohort: pd.DataFrame) -> None:
    root = Path(ci_cohort.attrs["root"])
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    again = data.load("synthetic", "ci", dest=root, progress=False)
    assert json.loads((root / "manifest.json").read_text(encoding="utf-8")) == manifest
    pd.testing.assert_frame_equal(again, ci_cohort)


def test_deterministic_per_seed(tmp_path: Path) -> None:
    a = data.load("synthetic", "ci", dest=tmp_path / "a", n_subjects=2, seed=7, progress=False)
    b = data.load("synthetic", "ci", dest=tmp_path / "b", n_subjects=2, seed=7, progress=False)
    c = data.load("synthetic", "ci", dest=tmp_path / "c", n_subjects=2, seed=8, progress=False)
    for col in ("t1", "t2_flair", "label"):
        for pa, pb, pc in zip(a[col], b[col], c[col], strict=True):
            ia, ib = sitk.ReadImage(pa), sitk.ReadImage(pb)
            assert ia.GetOrigin() == ib.GetOrigin() and ia.GetDirection() == ib.GetDirection()
            assert ia.GetSpacing() == ib.GetSpacing()
            np.testing.assert_array_equal(_array(pa), _array(pb))
            ac = _array(pc)
            assert ac.shape != _array(pa).shape or not np.array_equal(ac, _array(pa))
    assert list(a["age"]) == list(b["age"]) and list(a["age"]) != list(c["age"])


def test_interrupted_cache_is_not_trusted(tmp_path: Path) -> None:
    df = data.load("synthetic", "ci", dest=tmp_path, n_subjects=2, seed=3, progress=False)
    first = _array(df["t1"][0])
    # an interrupted run: no manifest, one file missing, a stray partial file
    (tmp_path / "manifest.json").unlink()
    Path(df["t1"][1]).unlink()
    stale = tmp_path / "SYN0002" / ".T1.abc.partial.nii.gz"
    stale.write_bytes(b"half")
    df2 = data.load("synthetic", "ci", dest=tmp_path, n_subjects=2, seed=3, progress=False)
    assert not stale.exists()  # the stale temporary of the killed run is cleaned up
    np.testing.assert_array_equal(_array(df2["t1"][0]), first)
    assert Path(df2["t1"][1]).is_file() and (tmp_path / "manifest.json").is_file()
    # a file changed behind the manifest's back (size differs): regenerated
    Path(df2["t1"][0]).write_bytes(b"garbage")
    df3 = data.load("synthetic", "ci", dest=tmp_path, n_subjects=2, seed=3, progress=False)
    np.testing.assert_array_equal(_array(df3["t1"][0]), first)
    # other parameters in the same folder: regenerated, not mixed
    df4 = data.load("synthetic", "ci", dest=tmp_path, n_subjects=2, seed=4, progress=False)
    assert list(df4["age"]) != list(df["age"])


def test_unknown_dataset_and_options() -> None:
    with pytest.raises(ConfigError, match="'synthetic', 'ixi', 'mrbrains13'"):
        data.load("imagenet", "ci")
    with pytest.raises(ConfigError, match="did you mean 'synthetic'"):
        data.load("synthtic", "ci")
    with pytest.raises(ConfigError, match="n_subjects"):
        data.load("synthetic", "ci", n_subject=3)
    with pytest.raises(ConfigError, match="spacing"):
        data.load("synthetic", "ci", spacing=-1)
    with pytest.raises(ConfigError, match="preset"):
        data.load("synthetic", "tiny")
    assert data.DATASETS == ("synthetic", "ixi", "mrbrains13")


# --- bad input, with real files ----------------------------------------------


@pytest.fixture()
def small(tmp_path: Path) -> pd.DataFrame:
    return data.load("synthetic", "ci", dest=tmp_path / "small", n_subjects=1, seed=5,
                     progress=False)


def test_truncated_nifti_is_named(small: pd.DataFrame) -> None:
    row = small.iloc[0].copy()
    path = Path(row["t1"])
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"T1\.nii\.gz.*(delete|regenerate)"):
        data.check_subject(row)


def test_corrupt_nifti_is_named(small: pd.DataFrame) -> None:
    row = small.iloc[0].copy()
    Path(row["t2_flair"]).write_bytes(gzip.compress(b"not a nifti header" * 40))
    with pytest.raises(DataError, match=r"T2_FLAIR\.nii\.gz.*(corrupt|unreadable)"):
        data.check_subject(row)


def test_geometry_mismatch_is_named(small: pd.DataFrame) -> None:
    row = small.iloc[0].copy()
    label = sitk.ReadImage(row["label"])
    label.SetOrigin([o + 5.0 for o in label.GetOrigin()])
    sitk.WriteImage(label, row["label"])
    with pytest.raises(DataError, match=r"label\.nii\.gz.*origin"):
        data.check_subject(row)
    shifted = sitk.ReadImage(row["t1_ir"])
    sitk.WriteImage(sitk.Resample(shifted, [s + 1 for s in shifted.GetSize()], sitk.Transform(),
                                  sitk.sitkLinear, shifted.GetOrigin(), shifted.GetSpacing(),
                                  shifted.GetDirection()), row["t1_ir"])
    with pytest.raises(DataError, match=r"T1_IR\.nii\.gz.*size"):
        data.check_subject(row)


def test_nan_image_is_named(small: pd.DataFrame) -> None:
    row = small.iloc[0].copy()
    image = sitk.Cast(sitk.ReadImage(row["t1"]), sitk.sitkFloat32)
    array = sitk.GetArrayFromImage(image)
    array[2, 3, 4] = np.nan
    bad = sitk.GetImageFromArray(array)
    bad.CopyInformation(image)
    sitk.WriteImage(bad, row["t1"])
    with pytest.raises(DataError, match=r"T1\.nii\.gz.*NaN"):
        data.check_subject(row)
    with pytest.raises(DataError, match="NaN"):
        data.check_finite(row["t1"])


def test_demographics_without_columns(tmp_path: Path) -> None:
    path = tmp_path / "demo.csv"
    pd.DataFrame({"IXI_ID": [1], "AGE": [30.0]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"demo\.csv.*SEX_ID \(1=m, 2=f\)"):
        data.read_demographics(path)
    with pytest.raises(DataError, match=r"missing\.csv"):
        data.read_demographics(tmp_path / "missing.csv")


def test_full_disk_is_a_data_error(tiny_disk: Path) -> None:
    with pytest.raises(DataError, match=r"disk is full.*(COURSE_DATA_DIR|free)"):
        data.load("synthetic", "ci", dest=tiny_disk / "cohort", n_subjects=2, seed=1,
                  progress=False, workers=1)
    # nothing half-written is left to be trusted
    assert not (tiny_disk / "cohort" / "manifest.json").exists()
    assert not list((tiny_disk / "cohort").rglob("*partial*"))


def test_cli_summary_and_clean_errors(ci_cohort: pd.DataFrame) -> None:
    root = ci_cohort.attrs["root"]
    done = subprocess.run([sys.executable, "-m", "course_utils", "data", "synthetic",
                           "--preset", "ci", "--dest", root],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "subjects" in done.stdout and "24" in done.stdout and "MB" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "course_utils", "data", "nope", "--preset", "ci"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "unknown dataset" in bad.stderr and "Traceback" not in bad.stderr


def test_errors_are_one_family() -> None:
    assert issubclass(DataError, CourseError) and issubclass(ConfigError, CourseError)
