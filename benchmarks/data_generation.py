"""Benchmark the synthetic cohort: generation time, memory, disk, and how learnable it is.

    python benchmarks/data_generation.py                  # ci and binder
    python benchmarks/data_generation.py --presets full   # opt-in, long
    python benchmarks/data_generation.py --json out.json

Each preset is generated into a fresh temporary folder (the cache is not used).
Columns: wall time, peak memory (this process plus its worker processes,
sampled every 0.2 s with psutil), disk size, two baselines computed from
the label maps: sex accuracy from total brain volume (labels 1-4, logistic
regression, 5-fold cross-validated) and age MAE from total CSF volume (label 1,
linear fit, 5-fold cross-validated) and from CSF's share of labels 1-4, and the anatomy against the published norms
of data/README.md: mean CSF, grey and white matter volumes (ml), the median
lesion share of the brain and the rank correlation of lesion volume with age.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import save_json  # noqa: E402  # benchmarks/_report.py

from course_utils import data  # noqa: E402


class PeakMemory:
    """Sample the resident memory of this process and its children in a thread."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for proc in [self.process, *self.process.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except Exception:  # a worker may exit while we look
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def volumes(df) -> pd.DataFrame:
    """Millilitres of CSF, grey matter, white matter and lesion per subject (label maps)."""
    rows = []
    for path in df["label"]:
        image = sitk.ReadImage(path)
        counts = np.bincount(sitk.GetArrayViewFromImage(image).ravel(), minlength=5)
        rows.append(counts[1:5] * float(np.prod(image.GetSpacing())) / 1000.0)
    vol = pd.DataFrame(rows, columns=["csf", "gm", "wm", "lesion"])
    vol["brain"] = vol.sum(axis=1)
    return vol


def learnability(df) -> dict[str, float]:
    """Cross-validated sex accuracy from brain volume and age MAE from CSF volume."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    vol = volumes(df)
    brain, csf = vol["brain"].to_numpy(), vol["csf"].to_numpy()
    sex = (df["sex"] == "M").to_numpy().astype(int)
    age = df["age"].to_numpy()
    folds = min(5, int(np.bincount(sex).min()))
    pred = cross_val_predict(make_pipeline(StandardScaler(), LogisticRegression()),
                             brain[:, None], sex,
                             cv=StratifiedKFold(folds, shuffle=True, random_state=0))
    age_pred = cross_val_predict(LinearRegression(), csf[:, None], age,
                                 cv=KFold(5, shuffle=True, random_state=0))
    share = (csf / brain)[:, None]  # CSF relative to the head: free of head size
    share_pred = cross_val_predict(LinearRegression(), share, age,
                                   cv=KFold(5, shuffle=True, random_state=0))
    return {
        "sex_accuracy_brain_volume": float(np.mean(pred == sex)),
        "age_mae_csf_volume": float(np.mean(np.abs(age_pred - age))),
        "age_mae_csf_share": float(np.mean(np.abs(share_pred - age))),
        "age_sd": float(np.std(age)),
        "corr_age_csf": float(np.corrcoef(age, csf)[0, 1]),
        "brain_ml_men": float(brain[sex == 1].mean()),
        "brain_ml_women": float(brain[sex == 0].mean()),
        "csf_ml": float(vol["csf"].mean()),
        "gm_ml": float(vol["gm"].mean()),
        "wm_ml": float((vol["wm"] + vol["lesion"]).mean()),
        "lesion_ml_median": float(vol["lesion"].median()),
        "lesion_pct_median": float(100 * (vol["lesion"] / vol["brain"]).median()),
        "lesion_age_rank_corr": float(pd.Series(age).corr(vol["lesion"], method="spearman")),
    }


def disk_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def run(preset: str, workdir: Path, **options) -> dict[str, object]:
    dest = workdir / preset
    with PeakMemory() as mem:
        start = time.perf_counter()
        df = data.load("synthetic", preset, dest=dest, progress=False, **options)
        wall = time.perf_counter() - start
    row: dict[str, object] = {
        "preset": preset,
        "subjects": len(df),
        "spacing_mm": df.attrs["spacing"],
        "wall_s": round(wall, 1),
        "peak_mem_mb": round(mem.peak / 1e6),
        "disk_mb": round(disk_mb(dest), 1),
    }
    row.update({k: round(v, 3) for k, v in learnability(df).items()})
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["ci", "binder"],
                        choices=["ci", "binder", "full"])
    parser.add_argument("--n-subjects", type=int, default=None,
                        help="override the preset's number of subjects")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    options = {k: v for k, v in {"n_subjects": args.n_subjects, "seed": args.seed}.items()
               if v is not None}
    rows = []
    with tempfile.TemporaryDirectory(prefix="course_bench_") as tmp:
        for preset in args.presets:
            rows.append(run(preset, Path(tmp), **options))
            print(json.dumps(rows[-1]), file=sys.stderr)
    columns = ["preset", "subjects", "spacing_mm", "wall_s", "peak_mem_mb", "disk_mb",
               "sex_accuracy_brain_volume", "age_mae_csf_volume", "age_mae_csf_share",
               "corr_age_csf", "csf_ml",
               "gm_ml", "wm_ml", "lesion_ml_median", "lesion_pct_median",
               "lesion_age_rank_corr"]
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)))
    save_json(rows, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
