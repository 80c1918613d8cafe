"""The environment check and the message a learner gets without TensorFlow."""

import os
import subprocess
import sys

import pytest

from course_utils import environment

WITHOUT_TF = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"


def run(code):
    return subprocess.run([sys.executable, "-c", WITHOUT_TF + code], capture_output=True, text=True)


def test_missing_tensorflow_says_how_to_install_it():
    out = run(
        "from course_utils import config\n"
        "try:\n    config.require_tensorflow()\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    ).stdout
    assert out.startswith("CourseError")
    assert "make setup" in out and "pip install -e '.[cpu]'" in out


def test_environment_report_flags_what_is_missing():
    result = run("from course_utils import environment\nraise SystemExit(0 if environment.report() else 1)")
    assert result.returncode == 1
    line = next(ln for ln in result.stdout.splitlines() if "tensorflow" in ln)
    assert line.startswith("❌")
    assert "fix: run `make setup`" in result.stdout


def test_environment_summary_and_checks_here():
    names = {c.name: c for c in environment.check()}
    assert names["tensorflow"].ok and names["SimpleITK"].ok and names["Keras 3"].ok
    summary = environment.summary()
    assert "TensorFlow" in summary and "MISSING" not in summary


def test_a_broken_install_is_reported_not_raised(tmp_path):
    # A package that fails at import with something other than ImportError (a broken
    # wheel, an ABI mismatch) used to stop the environment report with a traceback.
    broken = tmp_path / "nilearn"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('compiled for another numpy')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "course_utils.environment"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = next(ln for ln in result.stdout.splitlines() if "nilearn" in ln)
    assert line.startswith("❌") and "broken: RuntimeError: compiled for another numpy" in line
    assert "pip install --force-reinstall nilearn" in result.stdout


def test_the_setup_line_keeps_tensorflow_start_up_logs_out_of_the_notebook():
    # Issue #13: every notebook opened with a red block of absl/oneDNN lines under its first
    # cell. With TensorFlow's C++ logging fully on, its import still writes them to
    # descriptor 2 (checked first, so this test cannot pass by a quiet TensorFlow).
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    bare = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env,
                          capture_output=True, text=True, timeout=300)
    if not bare.stderr.strip():
        pytest.skip("this TensorFlow logs nothing at import, even at level 0")
    run = subprocess.run([sys.executable, "-c",
                          "from course_utils import environment; print(environment.summary())"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "TensorFlow 2." in run.stdout
    assert run.stderr.strip() == "", run.stderr


def test_progress_bars_in_an_html_report_show_the_final_count(tmp_path, monkeypatch):
    # Issue #13: a report saved tqdm's notebook widget, which no front end moves again: the
    # HTML page showed "0%" for every bar. The real report runner executes a notebook whose
    # bars come from the package (parallel_map, as data.load uses it); its HTML must show
    # the finished bar as text, and a live front end must still get the widget.
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    from course_utils import reports

    monkeypatch.setenv("COURSE_WIDGETS", "0")  # run_one sets it too; this puts it back after
    nb = new_notebook(cells=[
        new_code_cell("preset = None", metadata={"tags": ["parameters"]}),
        new_code_cell("from course_utils.data import _cache\n"
                      "print(_cache.parallel_map(abs, [-1, -2, -3], progress=True, desc='demo'))"),
        new_code_cell("import os\nos.environ['COURSE_WIDGETS'] = '1'  # a live front end\n"
                      "from course_utils import environment\n"
                      "bar = environment.progress_bar(range(2), desc='live')\n"
                      "print(list(bar))"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "bars.ipynb")
    out = tmp_path / "out"
    out.mkdir()
    row = reports.run_one(tmp_path / "bars.ipynb", out, "ci")
    assert row["status"] == "ok", row["error"]
    executed = nbformat.read(out / "bars.ipynb", as_version=4)
    report, live = (next(c.outputs for c in executed.cells if word in c.source)
                    for word in ("'demo'", "'live'"))
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for o in report), "a widget in a report is frozen at 0%"
    assert {o.get("name") for o in report if o.output_type == "stream"} == {"stdout"}  # not red
    html = (out / "bars.html").read_text(encoding="utf-8")
    assert "demo: 100%" in html and "3/3" in html and "[1, 2, 3]" in html
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in live)
