"""Recorded results: the metrics JSON each notebook writes."""

import json
import math

import numpy as np

from course_utils import config, results


def test_record_metrics_writes_preset_runtime_memory_and_metrics(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path))
    p = config.resolve("06_segmentation", preset="ci", epochs=2)
    path = results.record_metrics("06_segmentation", p, {
        "dice": np.array([0.5, 0.25]), "mean": np.float32(0.375), "missing": math.nan,
    })
    assert path == tmp_path / "06_segmentation.metrics.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["preset"] == "ci"
    assert record["params"]["epochs"] == 2
    assert record["runtime_s"] >= 0
    assert record["peak_memory_mb"] > 10  # a Python process with numpy is larger than that
    assert record["metrics"] == {"dice": [0.5, 0.25], "mean": 0.375, "missing": None}
    assert results.read_metrics("06_segmentation") == record
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
