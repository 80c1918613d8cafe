"""The rendered course (`make site`, tools/site.py): real Sphinx builds of small executed notebooks.

No browser here (tests/browser/test_site_in_chromium.py opens the built site in Chromium):
these build real sites from notebooks executed by a real kernel-free recipe (nbformat
with a real PNG from matplotlib) and read the HTML Sphinx wrote.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
from pathlib import Path

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils.errors import CourseError, DataError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Sphinx 9 warns that the theme and MyST use APIs it will remove in Sphinx 11: not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API")
pytest.importorskip("sphinx", reason="the site extra is not installed (make site installs it)")
# tools/site.py by its path: the name `site` is the standard library's module
_spec = importlib.util.spec_from_file_location("course_site", ROOT / "tools" / "site.py")
site_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(site_tool)


def _png() -> str:
    """A real PNG figure, base64-encoded as Jupyter stores it."""
    import base64

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.imshow([[0, 1], [1, 0]], cmap="gray")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _notebook(title: str, link: str, figure: bool) -> nbformat.NotebookNode:
    """A small course notebook: a title, a link, some math, a code cell with outputs."""
    nb = nbformat.v4.new_notebook(metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python", "pygments_lexer": "ipython3"}})
    code = nbformat.v4.new_code_cell("print('hello')", execution_count=1)
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="voxelspacing 4 mm\n")]
    if figure:
        code.outputs.append(nbformat.v4.new_output(
            "display_data", data={"image/png": _png(), "text/plain": "<Figure>"}))
    nb.cells = [nbformat.v4.new_markdown_cell(
        f"# {title}\n\nThe world point $p = D\\,i$, or\n  $$p = O + D\\,i,$$\n  in millimetres."),
                code, nbformat.v4.new_markdown_cell(f"Next: [the next one]({link})")]
    return nb


def _course(tmp_path: Path, link_00: str = "01_b.ipynb", status: str = "ok") -> tuple[Path, Path]:
    """A tiny repository (README, two notebooks) and a reports folder where both ran."""
    root, reports = tmp_path / "repo", tmp_path / "reports" / "ci"
    (root / "notebooks").mkdir(parents=True)
    reports.mkdir(parents=True)
    (root / "README.md").write_text("# The course\n\nStart with [00](notebooks/00_a.ipynb), "
                                    "teachers read [the guide](INSTRUCTORS.md).\n")
    (root / "INSTRUCTORS.md").write_text("# For instructors\n\nBack to [the course](README.md).\n")
    notebooks = {"00_a": _notebook("Zero", link_00, figure=True),
                 "01_b": _notebook("One", "../README.md", figure=False)}
    for stem, nb in notebooks.items():
        source = nbformat.v4.new_notebook(cells=[c.copy() for c in nb.cells], metadata=nb.metadata)
        nbformat.write(source, root / "notebooks" / f"{stem}.ipynb")
        nbformat.write(nb, reports / f"{stem}.ipynb")
        run = {"notebook": stem, "preset": "ci", "status": status if stem == "01_b" else "ok",
               "started": "2026-12-02T04:00:00+00:00", "finished": "2026-12-02T04:01:00+00:00",
               "wall_s": 60.0, "error": "" if status == "ok" else "PapermillExecutionError: boom"}
        (reports / f"{stem}.run.json").write_text(json.dumps(run))
    return root, reports


def _html(out: Path, page: str) -> str:
    return (out / page).read_text(encoding="utf-8")


def test_a_site_links_pages_shows_figures_math_and_the_run(tmp_path):
    root, reports = _course(tmp_path)
    out = tmp_path / "site"
    index = site_tool.build(reports, out, root=root)
    assert index == out / "index.html" and "README.html" in index.read_text()
    zero, one = _html(out, "notebooks/00_a.html"), _html(out, "notebooks/01_b.html")
    # the course's links between notebooks and to ../README.md became page links
    assert 'href="01_b.html"' in zero and 'href="../README.html"' in one
    assert 'href="notebooks/00_a.html"' in _html(out, "README.html")
    assert 'href="README.html"' in _html(out, "INSTRUCTORS.html")
    # navigation: next from 00 is 01, previous from 01 is 00; a table of contents
    assert re.search(r'class="right-next"\s+href="01_b.html"', zero)
    assert re.search(r'class="left-prev"\s+href="00_a.html"', one)
    assert "bd-sidebar-primary" in zero and "Notebooks" in zero
    assert not (out / "genindex.html").exists() and "genindex" not in zero  # no empty Index page
    # the stored figure is on the page as a PNG file the site serves
    images = re.findall(r'<img[^>]+src="(../_images/[^"]+)"', zero)
    assert images and all((out / "notebooks" / src).resolve().read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
                          for src in images)
    assert "voxelspacing 4 mm" in zero  # the stored print() output
    assert "<math" in zero and "cdn" not in zero.lower()  # MathML built here, no MathJax fetched
    assert 'display="block"' in zero and "$$" not in zero  # $$..$$ in a paragraph, as Jupyter shows it
    assert "at the <code class=\"docutils literal notranslate\"><span class=\"pre\">ci</span>" in zero
    assert "say nothing about what the methods can do" in zero  # ci numbers are not results
    assert "instead of training" not in zero  # 00 trained nothing: no pretrained note
    assert '"voxelspac":' in (out / "searchindex.js").read_text()  # outputs are searchable (stemmed)
    # the executed notebook is offered for download under its own name
    assert (out / "_sources" / "notebooks" / "00_a.ipynb").is_file()
    assert not list(tmp_path.glob(".site.*"))  # nothing half-built left beside it


def test_a_saved_widget_shows_its_picture_or_a_note_never_an_empty_box(tmp_path):
    """A notebook executed in a live lab stores widget views: a static page has no front end."""
    root, reports = _course(tmp_path)
    nb = _notebook("Zero", "01_b.ipynb", figure=False)
    view = {"model_id": "5f2b", "version_major": 2, "version_minor": 0}
    nb.cells[1].outputs = [  # the slice viewer (repr only), then a widget that kept a picture
        nbformat.v4.new_output("display_data", data={
            site_tool.WIDGET_VIEW: view, "text/plain": "VBox(children=(IntSlider(value=24),))"}),
        nbformat.v4.new_output("display_data", data={
            site_tool.WIDGET_VIEW: view, "image/png": _png(), "text/plain": "Output()"})]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, reports / "00_a.ipynb")
    out = tmp_path / "site"
    site_tool.build(reports, out, root=root)
    zero = _html(out, "notebooks/00_a.html")
    assert site_tool.WIDGET_VIEW not in zero and "VBox(" not in zero  # no empty box, no repr
    assert "An interactive widget is here when the notebook runs" in zero
    assert len(re.findall(r'<img[^>]+src="../_images/', zero)) == 1  # the widget's own picture


def test_a_run_with_the_pretrained_model_says_so(tmp_path):
    """Papermill records the injected ``pretrained=True``; the page says the model was loaded."""
    root, reports = _course(tmp_path)
    nb = nbformat.read(reports / "01_b.ipynb", as_version=4)
    nb.metadata["papermill"] = {"parameters": {"preset": "binder", "pretrained": True}}
    nbformat.write(nb, reports / "01_b.ipynb")
    for stem in ("00_a", "01_b"):
        run = json.loads((reports / f"{stem}.run.json").read_text())
        (reports / f"{stem}.run.json").write_text(json.dumps({**run, "preset": "binder"}))
    out = tmp_path / "site"
    site_tool.build(reports, out, root=root)
    one, zero = _html(out, "notebooks/01_b.html"), _html(out, "notebooks/00_a.html")
    assert "instead of training" in one and "instead of training" not in zero
    assert "say nothing about" not in one  # binder: no ci caveat


def test_the_setup_cell_is_folded_its_output_shown(tmp_path):
    """Every notebook opens with Colab plumbing; a reader sees the versions it printed."""
    root, reports = _course(tmp_path)
    nb = nbformat.read(reports / "00_a.ipynb", as_version=4)
    setup = nbformat.v4.new_code_cell("# Setup. On Colab this first fetches the course.\n"
                                      "import sys\nprint(sys.version)", execution_count=1)
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="Python 3.11.7\n")]
    nb.cells.insert(1, setup)
    nbformat.write(nb, reports / "00_a.ipynb")
    out = tmp_path / "site"
    site_tool.build(reports, out, root=root)
    zero = _html(out, "notebooks/00_a.html")
    folded = zero.split('<details class="admonition hide above-input">', 1)[1].split("</details>")[0]
    assert "Setup. On Colab" in folded and "Python 3.11.7" not in folded
    assert "Python 3.11.7" in zero and zero.count("tag_hide-input") == 1  # only the setup cell


def test_a_broken_link_stops_the_build_and_the_last_site_stays(tmp_path):
    root, reports = _course(tmp_path)
    out = tmp_path / "site"
    site_tool.build(reports, out, root=root)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = _notebook("Zero", "02_missing.ipynb", figure=True)
    nbformat.write(bad, reports / "00_a.ipynb")
    with pytest.raises(CourseError) as caught:
        site_tool.build(reports, out, root=root)
    assert caught.value.path == str(reports.resolve())
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".site.*"))


def test_a_failed_or_missing_run_is_refused_by_name(tmp_path):
    root, reports = _course(tmp_path, status="failed")
    with pytest.raises(DataError) as caught:
        site_tool.build(reports, tmp_path / "site", root=root)
    assert caught.value.path == str(reports.resolve() / "01_b.run.json")
    assert "01_b" in str(caught.value) and "boom" in str(caught.value)
    (reports / "01_b.run.json").unlink()
    (reports / "01_b.ipynb").unlink()
    with pytest.raises(DataError) as caught:
        site_tool.build(reports, tmp_path / "site", root=root)
    assert caught.value.path == str(reports.resolve() / "01_b.ipynb")
    assert not (tmp_path / "site").exists()


def test_notebooks_run_at_different_presets_are_refused(tmp_path):
    root, reports = _course(tmp_path)
    run = json.loads((reports / "01_b.run.json").read_text())
    (reports / "01_b.run.json").write_text(json.dumps({**run, "preset": "binder"}))
    with pytest.raises(DataError) as caught:
        site_tool.build(reports, tmp_path / "site", root=root)
    assert caught.value.path == str(reports.resolve()) and "binder" in str(caught.value)
    assert not (tmp_path / "site").exists()


def test_a_folder_that_is_not_a_site_is_never_replaced(tmp_path):
    root, reports = _course(tmp_path)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(CourseError) as caught:
        site_tool.build(reports, out, root=root)
    assert caught.value.path == str(out)
    assert (out / "thesis.tex").read_text() == "precious" and len(list(out.iterdir())) == 1


@pytest.mark.slow
def test_the_course_itself_builds_with_every_link_resolved(tmp_path):
    """The real README, guide and notebooks (without outputs): any broken link fails."""
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "notebooks", reports)
    out = tmp_path / "site"
    site_tool.build(reports, out)
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.stem for p in (out / "notebooks").glob("*.html")) == names
    for before, after in zip(names, names[1:], strict=False):
        assert re.search(rf'class="right-next"\s+href="{after}.html"', _html(out, f"notebooks/{before}.html"))
    assert 'href="../README.html"' in _html(out, f"notebooks/{names[-1]}.html")
