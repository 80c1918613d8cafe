"""`make reports`: papermill execution, HTML pages and the index, on a tiny real notebook."""

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils import reports
from course_utils.errors import ConfigError


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
