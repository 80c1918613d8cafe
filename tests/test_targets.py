"""benchmarks/targets.py: the verdicts it gives on recorded metrics."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("targets", ROOT / "benchmarks" / "targets.py")
targets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(targets)


def write(folder: Path, notebook: str, preset: str, peak: float, **metrics):
    record = {"notebook": notebook, "preset": preset, "runtime_s": 100.0,
              "peak_memory_mb": peak, "metrics": metrics}
    (folder / f"{notebook}.metrics.json").write_text(json.dumps(record), encoding="utf-8")


def verdicts(rows, notebook):
    return {r["quantity"]: r["verdict"] for r in rows if r["notebook"] == notebook}


def test_binder_verdicts_follow_the_targets(tmp_path):
    write(tmp_path, "06_segmentation", "binder", 1500.0, mean_tissue_dice=0.86,
          lesion_dice=0.1, lesion_f1=0.6, input_wait_fraction=0.2)
    write(tmp_path, "06_segmentation.sequences-t1", "binder", 1500.0, mean_tissue_dice=0.82,
          dice={"CSF": 0.65})
    write(tmp_path, "07_age_regression", "binder", 2000.0, mae=6.0, baseline_mae=10.0,
          mae_ratio=0.6)
    write(tmp_path, "08_sex_classification", "binder", 1000.0, accuracy=0.75,
          baseline_accuracy=0.8, roc_auc=0.9)
    rows = targets.evaluate(tmp_path, "binder")
    assert verdicts(rows, "06_segmentation") == {
        "mean_tissue_dice": "met", "lesion_dice": "MISSED", "lesion_f1": "met",
        "input_wait_fraction": "MISSED", "peak memory (MiB)": "met"}
    assert verdicts(rows, "06_segmentation.sequences-t1") == {  # T1 only: CSF below 0.70
        "mean_tissue_dice": "met", "CSF Dice": "MISSED"}
    assert verdicts(rows, "05_class_balancing") == {"metrics record": f"MISSING ({tmp_path / '05_class_balancing.metrics.json'})"}
    seg = verdicts(rows, "07_age_regression")
    assert seg["mae_ratio"] == "met" and seg["peak memory (MiB)"] == "MISSED"  # 2000 MiB > 2e9 B
    assert verdicts(rows, "08_sex_classification")["accuracy"] == "MISSED"  # not above baseline
    assert verdicts(rows, "10_super_resolution") == {"metrics record": f"MISSING ({tmp_path / '10_super_resolution.metrics.json'})"}
    assert targets.main(["--preset", "binder", "--dir", str(tmp_path)]) == 1


def test_a_preset_without_targets_for_a_notebook_does_not_ask_for_its_record(tmp_path):
    rows = targets.evaluate(tmp_path, "ci")
    assert not verdicts(rows, "06_segmentation.sequences-t1")  # a variant the learner runs
    assert verdicts(rows, "06_segmentation")  # ci targets exist: its record is missing


def test_a_record_of_another_preset_is_not_judged(tmp_path):
    write(tmp_path, "10_super_resolution", "ci", 900.0, psnr=30.0, baseline_psnr=20.0)
    rows = targets.evaluate(tmp_path, "binder")
    assert verdicts(rows, "10_super_resolution") == {"preset": "WRONG PRESET"}


def write_run(folder: Path, notebook: str, status: str, started: str, error: str = ""):
    run = {"notebook": notebook, "preset": "ci", "status": status, "started": started,
           "error": error}
    (folder / f"{notebook}.run.json").write_text(json.dumps(run), encoding="utf-8")


def test_metrics_of_a_failed_unfinished_or_earlier_run_are_refused(tmp_path):
    # Issue #14: a notebook that failed under `make reports` had its previous metrics judged.
    write(tmp_path, "10_super_resolution", "ci", 900.0, psnr=30.0, baseline_psnr=20.0)
    record = json.loads((tmp_path / "10_super_resolution.metrics.json").read_text("utf-8"))
    record["finished"] = "2026-01-01T10:00:00+00:00"
    (tmp_path / "10_super_resolution.metrics.json").write_text(json.dumps(record), "utf-8")
    expected = {
        ("failed", "2026-01-01T09:00:00+00:00"): "FAILED RUN (ValueError: boom)",
        ("running", "2026-01-01T09:00:00+00:00"): "UNFINISHED RUN",
        ("ok", "2026-01-01T11:00:00+00:00"): "STALE",
    }
    for (status, started), verdict in expected.items():
        write_run(tmp_path, "10_super_resolution", status, started, error="ValueError: boom")
        rows = verdicts(targets.evaluate(tmp_path, "ci"), "10_super_resolution")
        assert list(rows) == ["metrics record"] and rows["metrics record"].startswith(verdict)
        assert targets.main(["--preset", "ci", "--dir", str(tmp_path)]) == 1
    write_run(tmp_path, "10_super_resolution", "ok", "2026-01-01T09:00:00+00:00")
    assert verdicts(targets.evaluate(tmp_path, "ci"), "10_super_resolution") == {
        "psnr": "met", "runtime (s)": "met"}


def test_an_unreadable_record_is_reported_not_raised(tmp_path):
    (tmp_path / "07_age_regression.metrics.json").write_text('{"preset": "ci", "met', "utf-8")
    write(tmp_path, "08_sex_classification", "ci", 900.0, accuracy=0.9)  # no baseline
    rows = targets.evaluate(tmp_path, "ci")
    assert verdicts(rows, "07_age_regression")["metrics record"].startswith("UNREADABLE")
    assert verdicts(rows, "08_sex_classification")["accuracy"] == "MISSING (its baseline)"
