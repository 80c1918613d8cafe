"""Every notebook follows the course skeleton and is stored clean."""

import json
import re
from pathlib import Path

import pytest

from course_utils import config, exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = list(config.NOTEBOOKS)


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell):
    return "".join(cell["source"])


def test_the_course_has_every_notebook_in_config():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton(path):
    nb = load(path)
    cells = nb["cells"]
    rel = f"notebooks/{path.name}"
    intro = source(cells[0])
    assert cells[0]["cell_type"] == "markdown"
    assert re.match(rf"# {path.stem[:2]} · \S", intro), "title '# NN · Title' first"
    assert config.colab_url(rel) in intro, "Colab badge must open this very notebook"
    assert config.binder_url(rel) in intro, "Binder badge must open this very notebook"
    assert "**Learning objectives**" in intro
    assert "**Time and memory**" in intro
    for preset in config.PRESET_NAMES:
        assert f"`{preset}`" in intro, f"time and memory for {preset}"
    summary = intro.split("**Learning objectives**")[0]
    assert len(re.sub(r"\[!\[.*?\)\]\(.*?\)", "", summary).split()) > 30, "a summary paragraph"

    code = [c for c in cells if c["cell_type"] == "code"]
    setup = source(code[0])
    assert "google.colab" in setup and f"https://github.com/{config.REPOSITORY}" in setup
    installs = [line for line in setup.splitlines() if "pip install" in line]
    assert installs, "the Colab cell installs the course package"
    for line in installs:  # no extras, no tensorflow: Colab's TensorFlow is kept
        assert "[cpu]" not in line and "[gpu]" not in line and "tensorflow" not in line.lower()

    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    assert re.search(r"^preset = None", source(params[0]), re.M)
    knobs = re.findall(r"^(\w+) = ", source(params[0]), re.M)
    everything = "\n".join(source(c) for c in cells)
    assert f'config.resolve("{path.stem}"' in everything
    allowed = set(config.preset_defaults(path.stem, "ci")) | {"preset"}
    assert set(knobs) <= allowed, f"parameters not in config: {set(knobs) - allowed}"
    assert "config.seed_everything(" in everything

    assert re.search(r"^#+ Check yourself", everything, re.M)
    called = re.findall(r"exercises\.check_(\w+)\(", everything)
    kinds = [exercises.REGISTRY[name]["kind"] for name in called]  # KeyError: not registered
    assert len(set(called)) >= 3, f"at least 3 exercises, got {called}"
    assert kinds.count("predict") >= 2, f"at least 2 change-predict-verify exercises, got {called}"

    assert f'results.record_metrics("{path.stem}"' in everything
    assert re.search(r"^## Summary", everything, re.M)
    if path != NOTEBOOKS[-1]:
        nxt = NOTEBOOKS[NOTEBOOKS.index(path) + 1].name
        assert f"]({nxt})" in source(cells[-1]), "the last cell links to the next notebook"
        assert "Shut Down Kernel" in source(cells[-1]), "and says how to free this one's memory"


def test_every_setup_cell_is_the_same():
    def setup(path):
        return next(source(c) for c in load(path)["cells"] if c["cell_type"] == "code")

    reference = setup(NOTEBOOKS[0])
    assert "ModuleNotFoundError" in reference, "a clear message when the kernel lacks course_utils"
    assert len(reference.splitlines()) <= 16, "the first cell is short"
    differ = [p.name for p in NOTEBOOKS if setup(p) != reference]
    assert not differ, f"run `python tools/nbtool.py sync-setup`: {differ}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
