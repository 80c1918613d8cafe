"""What the notebooks achieved at the ci preset, read from the metrics they recorded.

These run after `make notebooks` has executed every notebook with nbval at
COURSE_PRESET=ci (they are marked `notebooks`; `make test` runs them last).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import config, results

pytestmark = pytest.mark.notebooks
ROOT = Path(__file__).resolve().parents[1]


def recorded(notebook):
    path = results.metrics_path(notebook)
    assert path.exists(), f"{notebook} recorded nothing at {path}: did `make notebooks` run it?"
    return json.loads(path.read_text())


@pytest.mark.parametrize("notebook", list(config.NOTEBOOKS))
def test_every_notebook_recorded_its_run_at_ci(notebook):
    record = recorded(notebook)
    assert record["preset"] == "ci"
    assert record["runtime_s"] > 0 and record["peak_memory_mb"] > 0
    assert record["metrics"], "a notebook records what it achieved"


def test_papermill_injects_parameters_into_a_report(tmp_path):
    env = dict(os.environ, COURSE_REPORTS_DIR=str(tmp_path), COURSE_PRESET="binder")
    subprocess.run(
        [sys.executable, "-m", "papermill", "--log-level", "ERROR", str(ROOT / "notebooks" / "00_setup.ipynb"),
         str(tmp_path / "00.ipynb"), "-p", "preset", "ci", "-p", "dataset", "synthetic"],
        check=True, env=env, cwd=tmp_path,  # another working directory on purpose
    )
    record = json.loads((tmp_path / "00_setup.metrics.json").read_text())
    assert record["preset"] == "ci"  # -p preset beat COURSE_PRESET=binder
    assert record["metrics"]["n_subjects"] == config.COMMON["ci"]["n_subjects"]
