"""`make reports`: papermill execution, HTML pages and the index, on a tiny real notebook."""

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import reports
from course_utils.errors import ConfigError

pytestmark = pytest.mark.slow  # executes real notebooks with papermill


def tiny_notebook(path, body):
    nb = new_notebook(cells=[
        new_markdown_cell("# 00 · Tiny"),
        new_code_cell("preset = None\nn_subjects = None", metadata={"tags": ["parameters"]}),
        new_code_cell(body),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.filterwarnings("ignore")
def test_reports_run_notebooks_and_write_an_index(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    tiny_notebook(folder / "00_setup.ipynb", (
        "from course_utils import config, results\n"
        "p = config.resolve('00_setup', preset=preset, n_subjects=n_subjects)\n"
        "results.record_metrics('00_setup', p, {'answer': 42})"
    ))
    tiny_notebook(folder / "01_broken.ipynb", "raise ValueError('boom')")
    monkeypatch.setattr(reports, "NOTEBOOK_DIR", folder)
    monkeypatch.delenv("COURSE_PRESET", raising=False)

    status = reports.main(["--preset", "ci", "--out", str(tmp_path / "out")])

    out = tmp_path / "out" / "ci"
    assert status == 1  # one notebook failed
    record = json.loads((out / "00_setup.metrics.json").read_text(encoding="utf-8"))
    assert record["preset"] == "ci" and record["metrics"] == {"answer": 42}  # papermill injected it
    assert (out / "00_setup.html").read_text(encoding="utf-8").count("answer") >= 1
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "00_setup.html" in index and "answer: 42" in index
    assert "failed" in index and "boom" in index


def test_unknown_selection_and_preset_are_clear(capsys):
    with pytest.raises(ConfigError, match="no notebook matches"):
        reports.notebooks(["99"])
    assert reports.main(["--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_a_file_in_place_of_the_reports_folder_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder", encoding="utf-8")
    assert reports.main(["--preset", "ci", "--out", str(blocker)]) == 2
    assert "cannot create the reports folder" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("targets", ROOT / "benchmarks" / "targets.py")
targets = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(targets)

RECORD = ("from course_utils import config, results\n"
          "p = config.resolve('10_super_resolution', preset=preset)\n"
          "results.record_metrics('10_super_resolution', p, {'psnr': 30.0, 'baseline_psnr': 20.0})")


@pytest.mark.filterwarnings("ignore")
def test_a_failed_rerun_leaves_no_metrics_that_targets_trust(tmp_path, monkeypatch):
    # Issue #14: a notebook failing under `make reports` left the previous run's metrics
    # in place, and benchmarks/targets.py reported them as met.
    folder = tmp_path / "notebooks"
    folder.mkdir()
    notebook = folder / "10_super_resolution.ipynb"
    monkeypatch.setattr(reports, "NOTEBOOK_DIR", folder)
    monkeypatch.delenv("COURSE_PRESET", raising=False)
    out = tmp_path / "out" / "ci"

    def run(body):
        tiny_notebook(notebook, body)
        status = reports.main(["--preset", "ci", "--out", str(tmp_path / "out")])
        rows = targets.evaluate(out, "ci")
        return status, {r["quantity"]: r["verdict"] for r in rows
                        if r["notebook"] == "10_super_resolution"}

    assert run(RECORD) == (0, {"psnr": "met", "runtime (s)": "met"})
    status, verdicts = run("raise ValueError('boom')")  # fails before recording anything
    assert status == 1 and not (out / "10_super_resolution.metrics.json").exists()
    assert verdicts == {"metrics record": f"MISSING ({out / '10_super_resolution.metrics.json'})"}
    status, verdicts = run(RECORD + "\nraise ValueError('after recording')")
    assert status == 1 and (out / "10_super_resolution.metrics.json").exists()
    assert verdicts["metrics record"].startswith("FAILED RUN (PapermillExecutionError")
    assert "after recording" in verdicts["metrics record"]
    assert "psnr" not in (out / "index.html").read_text(encoding="utf-8")


def test_a_report_kernel_knows_it_has_no_live_front_end():
    # Issue #13: `python -m course_utils.reports` was taken for a live front end (the guess
    # went by ancestor process names), so 01's HTML report showed an empty widget. The
    # runner here is detached (setsid -f): no pytest among the kernel's ancestors.
    import shutil
    import subprocess
    import sys
    import tempfile
    import time

    # not under pytest's tmp_path: its name ("pytest-of-...") in the runner's command line
    # would let the old name-based guess pass by accident
    tmp_path = Path(tempfile.mkdtemp(prefix="course-report-"))
    if shutil.which("setsid") is None:
        pytest.skip("needs util-linux setsid to detach the runner from pytest")
    tiny_notebook(tmp_path / "00_tiny.ipynb",
                  "from course_utils import viz\nprint('WIDGETS', viz.widgets_available())")
    out = tmp_path / "out"
    out.mkdir()
    script = (f"from pathlib import Path; from course_utils import reports; "
              f"reports.run_one(Path({str(tmp_path / '00_tiny.ipynb')!r}), Path({str(out)!r}), 'ci')")
    env = {k: v for k, v in __import__("os").environ.items() if k != "COURSE_WIDGETS"}
    subprocess.run(["setsid", "-f", sys.executable, "-c", script], env=env, check=True)
    html = out / "00_tiny.html"
    deadline = time.monotonic() + 120
    while not html.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    executed = nbformat.read(out / "00_tiny.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert "WIDGETS False" in printed


@pytest.mark.filterwarnings("ignore")
def test_pretrained_is_injected_only_where_a_notebook_declares_it(tmp_path, monkeypatch):
    import papermill as pm

    # the course's notebooks that train for minutes (05-10) declare it, the others do not
    declared = sorted(path.stem[:2] for path in sorted(reports.NOTEBOOK_DIR.glob("*.ipynb"))
                      if "pretrained" in pm.inspect_notebook(str(path)))
    assert declared == ["05", "06", "07", "08", "09", "10"]
    folder = tmp_path / "notebooks"
    folder.mkdir()
    body = "print('pretrained is', globals().get('pretrained', 'undeclared'))"
    tiny_notebook(folder / "04_lesson.ipynb", body)
    tiny_notebook(folder / "06_app.ipynb", body)
    nb = nbformat.read(folder / "06_app.ipynb", as_version=4)
    nb.cells[1].source += "\npretrained = None"
    nbformat.write(nb, folder / "06_app.ipynb")
    monkeypatch.setattr(reports, "NOTEBOOK_DIR", folder)

    assert reports.main(["--preset", "ci", "--out", str(tmp_path / "out"), "--pretrained"]) == 0

    def printed(stem):
        executed = nbformat.read(tmp_path / "out" / "ci" / f"{stem}.ipynb", as_version=4)
        return "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code"
                       for o in c.get("outputs", []))
    assert "pretrained is True" in printed("06_app")
    assert "pretrained is undeclared" in printed("04_lesson")  # a lesson gets no stray variable
