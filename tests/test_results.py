"""Recorded results: the metrics JSON each notebook writes."""

import json
import math
import time

import numpy as np
import pytest

from course_utils import config, results
from course_utils.errors import ConfigError, CourseError


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


def test_the_runtime_is_that_of_the_params_given_not_of_the_last_resolve(monkeypatch, tmp_path):
    # Issue #15: a module-global clock, restarted by any resolve(), measured the wrong run.
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path))
    first = config.resolve("00_setup", preset="ci")
    time.sleep(0.3)
    config.resolve("01_headers_and_physical_space", preset="ci")  # another run starts
    path = results.record_metrics("00_setup", first, {"answer": 42})
    assert json.loads(path.read_text(encoding="utf-8"))["runtime_s"] >= 0.3
    plain = results.record_metrics("00_setup", {"preset": "ci"}, {"answer": 42})
    assert json.loads(plain.read_text(encoding="utf-8"))["runtime_s"] is None  # no clock given


def test_a_file_in_place_of_the_reports_folder_is_a_clear_error(monkeypatch, tmp_path):
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder", encoding="utf-8")
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(blocker))
    p = config.resolve("00_setup", preset="ci")
    with pytest.raises(CourseError, match="COURSE_REPORTS_DIR") as info:
        results.record_metrics("00_setup", p, {"answer": 42})
    assert info.value.path == str(blocker / "00_setup.metrics.json")
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_an_unwritable_reports_folder_is_a_clear_error(monkeypatch, freezable_dir):
    read_only_dir, freeze = freezable_dir
    freeze()
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(read_only_dir / "reports"))
    p = config.resolve("00_setup", preset="ci")
    with pytest.raises(CourseError, match="writable folder") as info:
        results.record_metrics("00_setup", p, {"answer": 42})
    assert isinstance(info.value.__cause__, OSError)
    assert not any(read_only_dir.iterdir())


@pytest.mark.parametrize("notebook, params, metrics, name", [
    ("00_setup", {"preset": "ci"}, {"cohort": {1, 2}}, "metrics.cohort"),
    ("00_setup", {"preset": "ci"}, [("answer", 42)], "metrics"),
    ("00_setup", "ci", {"answer": 42}, "params"),
    ("../00_setup", {"preset": "ci"}, {"answer": 42}, "notebook"),
])
def test_wrong_arguments_are_named(monkeypatch, tmp_path, notebook, params, metrics, name):
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        results.record_metrics(notebook, params, metrics)
    assert info.value.name == name
    assert list(tmp_path.iterdir()) == []  # nothing half-written
