"""Did the applications (06-10) meet their targets? A table from the recorded metrics.

    make reports PRESET=binder                  # runs every notebook, records metrics
    python benchmarks/targets.py --preset binder
    python benchmarks/targets.py --preset ci --dir reports/ci

Each notebook ends by writing ``<stem>.metrics.json`` (``results.record_metrics``)
with its preset, runtime, peak memory and scores on held-out subjects. This
script reads them from ``--dir`` (default: ``reports/<preset>``, where
``make reports`` puts them) and compares each with the targets of the course's
issues. It measures nothing itself, so it is cheap to rerun; a missing record
is reported as such, and so is a record that cannot be trusted: where ``make
reports`` left ``<stem>.run.json``, metrics of a failed or unfinished run, or
recorded before that run started, are refused (``reports.read_results``).
Exit status 1 when a target is missed or a record is missing or refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import config, reports  # noqa: E402

# 2 GB = 2e9 bytes, in the MiB that ``peak_memory_mb`` records: the stricter reading.
MEMORY_LIMIT_MIB = 2e9 / 2**20
CI_SECONDS = 240

Metrics = dict
Check = tuple[str, Callable[[Metrics], float | None], Callable[[Metrics, float], bool], str]


def _get(*keys: str) -> Callable[[Metrics], float | None]:
    def get(record: Metrics):
        value = record
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value
    return get


def _m(*keys: str) -> Callable[[Metrics], float | None]:
    return _get("metrics", *keys)


MEMORY: Check = ("peak memory (MiB)", _get("peak_memory_mb"),
                 lambda r, v: v < MEMORY_LIMIT_MIB, f"< {MEMORY_LIMIT_MIB:.0f} (2 GB)")
CI_TIME: Check = ("runtime (s)", _get("runtime_s"), lambda r, v: v < CI_SECONDS, f"< {CI_SECONDS}")


def _beats(key: str, baseline: str, lower_is_better: bool = True) -> Check:
    def ok(record, value):
        base = record["metrics"][baseline]
        return value < base if lower_is_better else value > base
    return (key, _m(key), ok, f"{'<' if lower_is_better else '>'} {baseline}")


def _info(key: str, *keys: str) -> Check:
    return (key, _m(*(keys or (key,))), lambda r, v: True, "reported")


TARGETS: dict[str, dict[str, list[Check]]] = {
    "05_class_balancing": {
        "ci": [],
        "binder": [("lesion_dice_gain_balanced", _m("lesion_dice_gain_balanced"),
                    lambda r, v: v >= 0.2, ">= 0.2 (balanced vs uniform + CE)"), MEMORY],
        "full": [],
    },
    "06_segmentation": {
        "ci": [("mean_tissue_dice", _m("mean_tissue_dice"), lambda r, v: v > 0.5, "> 0.5"),
               CI_TIME],
        "binder": [("mean_tissue_dice", _m("mean_tissue_dice"), lambda r, v: v >= 0.85, ">= 0.85"),
                   ("lesion_dice", _m("lesion_dice"), lambda r, v: v >= 0.50, ">= 0.50"),
                   ("lesion_f1", _m("lesion_f1"), lambda r, v: v >= 0.60, ">= 0.60 (lesion-wise)"),
                   ("input_wait_fraction", _m("input_wait_fraction"), lambda r, v: v < 0.10,
                    "< 0.10"),
                   MEMORY],
        "full": [("mean_tissue_dice", _m("mean_tissue_dice"), lambda r, v: v >= 0.90, ">= 0.90"),
                 ("input_wait_fraction", _m("input_wait_fraction"), lambda r, v: v < 0.10,
                  "< 0.10")],
    },
    # 06 run with sequences=["t1"] (the notebook records it beside the default run)
    "06_segmentation.sequences-t1": {
        "ci": [],
        "binder": [("mean_tissue_dice", _m("mean_tissue_dice"), lambda r, v: v >= 0.80, ">= 0.80"),
                   ("CSF Dice", _m("dice", "CSF"), lambda r, v: v >= 0.70, ">= 0.70")],
        "full": [],
    },
    "07_age_regression": {
        "ci": [_beats("mae", "baseline_mae"), CI_TIME],
        "binder": [("mae_ratio", _m("mae_ratio"), lambda r, v: v <= 0.6, "<= 0.6 x baseline"),
                   _info("mae"), _info("baseline_mae"), MEMORY],
        "full": [("mae_ratio", _m("mae_ratio"), lambda r, v: v <= 0.6, "<= 0.6 x baseline")],
    },
    "08_sex_classification": {
        "ci": [_beats("accuracy", "baseline_accuracy", lower_is_better=False), CI_TIME],
        "binder": [("accuracy", _m("accuracy"),
                    lambda r, v: v >= 0.75 and v > r["metrics"]["baseline_accuracy"],
                    ">= 0.75 and > baseline_accuracy"),
                   _info("baseline_accuracy"), _info("roc_auc"), MEMORY],
        "full": [("accuracy", _m("accuracy"), lambda r, v: v >= 0.75, ">= 0.75")],
    },
    "09_representation_learning": {
        "ci": [_beats("mse", "baseline_mse"), CI_TIME],
        "binder": [_beats("mse", "baseline_mse"), _info("probe_codes_mae"),
                   _info("probe_raw_mae"), MEMORY],
        "full": [_beats("mse", "baseline_mse")],
    },
    "10_super_resolution": {
        "ci": [_beats("psnr", "baseline_psnr", lower_is_better=False), CI_TIME],
        "binder": [("psnr_gain_db", _m("psnr_gain_db"), lambda r, v: v >= 0.5, ">= 0.5 dB"),
                   _info("ssim"), _info("baseline_ssim"), MEMORY],
        "full": [("psnr_gain_db", _m("psnr_gain_db"), lambda r, v: v >= 0.5, ">= 0.5 dB")],
    },
}


def evaluate(folder: Path, preset: str) -> list[dict]:
    """One row per target: notebook, quantity, measured value, target, verdict.

    Parameters: ``folder``: where the ``*.metrics.json`` records (and the run records
    of ``make reports``) are; ``preset``: the preset whose targets apply.
    """
    rows = []
    for notebook, per_preset in TARGETS.items():
        if not per_preset[preset]:
            continue  # no target at this preset
        record, refused = reports.read_results(folder, notebook)
        if record is None:
            rows.append({"notebook": notebook, "quantity": "metrics record", "value": None,
                         "target": "from a finished run", "verdict": refused})
            continue
        if record.get("preset") != preset:
            rows.append({"notebook": notebook, "quantity": "preset", "value": record.get("preset"),
                         "target": preset, "verdict": "WRONG PRESET"})
            continue
        for name, get, ok, target in per_preset[preset]:
            value = get(record)
            if value is None:
                verdict = "MISSING"
            elif target == "reported":
                verdict = ""
            else:
                try:
                    verdict = "met" if ok(record, value) else "MISSED"
                except (KeyError, TypeError):  # the baseline it is compared with is absent
                    verdict = "MISSING (its baseline)"
            rows.append({"notebook": notebook, "quantity": name, "value": value,
                         "target": target, "verdict": verdict})
    return rows


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    """Print the table of targets; 1 if one is missed, missing or refused.

    Parameters: ``argv``: command-line arguments (None: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="binder", choices=config.PRESET_NAMES)
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder with the *.metrics.json files (default reports/<preset>)")
    args = parser.parse_args(argv)
    folder = args.dir or Path(__file__).resolve().parent.parent / "reports" / args.preset
    rows = evaluate(folder, args.preset)
    print(f"targets at preset {args.preset!r}, records in {folder}")
    print(f"{'notebook':<28} {'quantity':<22} {'value':>9}  {'target':<34} verdict")
    for r in rows:
        print(f"{r['notebook']:<28} {r['quantity']:<22} {_fmt(r['value']):>9}  "
              f"{r['target']:<34} {r['verdict']}")
    failed = [r for r in rows if r["verdict"] not in ("", "met")]
    print(f"{len(failed)} target(s) missed or missing" if failed else "all targets met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
