"""Build the rendered course: a static site of the executed notebooks (``make site``).

    python tools/site.py --reports reports/binder --out reports/site

``--reports`` is a folder where ``python -m course_utils.reports`` executed every notebook
(``<stem>.ipynb`` and its ``<stem>.run.json``). The site is built with Sphinx and myst-nb
(configuration in ``site/conf.py``), which read the stored outputs and execute nothing:
pages keep the repository's layout (``README.md`` is the landing page, the notebooks are
under ``notebooks/``), so the course's own links (``NN_x.ipynb``, ``../README.md``) become
page links, and a link that leads nowhere stops the build. A notebook that is missing,
or whose run failed or did not finish, stops the build too: the site never shows a
stale or broken run as the course. Each notebook page opens with a note on its run (date,
preset, a caveat at ``ci``, whether it loaded a pretrained model), folds the setup cell's
Colab plumbing, and shows a note where a saved widget would be an empty box. The finished
site replaces the previous one only once it is whole.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the course's own package

from course_utils.errors import CourseError, DataError  # noqa: E402
from course_utils.reports import notebooks  # noqa: E402

CONF_DIR = ROOT / "site"
# Pages besides the notebooks, as the repository has them (README.md links to them).
PAGES = ("README.md", "INSTRUCTORS.md", "data/README.md")
BUILT_MARK = ".buildinfo"  # Sphinx writes it into every HTML build: "this folder is a site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# What a static page shows where a saved widget has no picture of its own (a live notebook
# draws it; a page would show an empty box, or "Error displaying widget").
WIDGET_NOTE = ("*An interactive widget is here when the notebook runs: open it on Colab, "
               "Binder or your computer (the buttons at the top) to use it.*")
SETUP_MARK = "# Setup."  # the first line of every notebook's setup cell (Colab, versions)
RUN_NOTE = """```{{note}}
This page shows a run of the notebook at the `{preset}` preset ({when}, {wall} s on the
machine that built this site).{more} Run it yourself on Colab, Binder or your computer with the
buttons at the top: your numbers will differ a little.
```"""
# Said on the page where it applies, so that no reader takes a number for more than it is.
CI_CAVEAT = (" The `ci` preset only checks that everything runs (tiny volumes, tens of training "
             "steps): its scores and figures say nothing about what the methods can do.")
PRETRAINED_NOTE = (" It loaded the model the course trained at `binder` (`pretrained = True`, "
                   "see `pretrained/README.md`) instead of training: the curves are the ones "
                   "recorded when that model was trained.")


def _run_record(reports: Path, stem: str) -> dict:
    """The run record the report runner left for ``stem``; refuses a failed or unfinished run.

    Parameters: ``reports``: the folder of executed notebooks; ``stem``: the notebook's name.
    """
    path = reports / f"{stem}.run.json"
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # executed by hand (papermill, nbconvert): nothing says it failed
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is unreadable ({exc}); run the notebook again with "
                        "`python -m course_utils.reports`", path=path) from exc
    if run.get("status") != "ok":
        why = run.get("error") or f"status {run.get('status')!r}"
        raise DataError(f"the last run of {stem} did not succeed ({why}): the site shows only "
                        f"finished runs. Fix it and run `make site` again (or "
                        f"`python -m course_utils.reports --notebooks {stem[:2]}`)", path=path)
    return run


def _page_notebook(executed: Path, run: dict) -> nbformat.NotebookNode:
    """The executed notebook as the site shows it: a note on the run after its title.

    Parameters: ``executed``: the executed notebook; ``run``: its run record (may be empty).
    """
    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception as exc:  # nbformat raises JSON, validation and OS errors
        raise DataError(f"{executed} is not a readable notebook ({exc}); run it again with "
                        "`python -m course_utils.reports`", path=executed) from exc
    nb.metadata.pop("widgets", None)  # reports run without live widgets (COURSE_WIDGETS=0)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            _static_output(output)
    setup = next((c for c in nb.cells if c.cell_type == "code"), None)
    if setup is not None and setup.source.startswith(SETUP_MARK):  # Colab plumbing: folded
        setup.metadata.setdefault("tags", []).append("hide-input")
    # IPython's lexer for the cells (`!pip`, `%cd` in the setup cell), as Jupyter uses
    nb.metadata.setdefault("language_info", {}).setdefault("pygments_lexer", "ipython3")
    if run:
        at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
        nb.cells.insert(at, nbformat.v4.new_markdown_cell(_run_note(nb, run), id="site-run-note"))
    return nb


def _run_note(nb: nbformat.NotebookNode, run: dict) -> str:
    """The note on the run a page shows: when, where, at which preset, trained or loaded.

    Parameters: ``nb``: the executed notebook (papermill records the injected parameters in
    its metadata); ``run``: its run record.
    """
    injected = nb.metadata.get("papermill", {}).get("parameters", {})
    more = (CI_CAVEAT if run.get("preset") == "ci" else "") + (
        PRETRAINED_NOTE if injected.get("pretrained") is True else "")
    return RUN_NOTE.format(preset=run.get("preset", "?"), wall=run.get("wall_s", "?"),
                           when=str(run.get("finished", "?"))[:10], more=more)


def _static_output(output: dict) -> None:
    """Make one stored output showable on a static page, in place: a widget's view goes.

    A widget saved by a live notebook (executed by hand, not by the report runner) keeps
    its picture if it stored one; if all it left is its repr (``VBox(...)``), a note says
    where it works. Parameters: ``output``: one output of a code cell.
    """
    data = output.get("data", {})
    if WIDGET_VIEW in data:
        del data[WIDGET_VIEW]
        if not set(data) - {"text/plain"}:
            output["data"] = {"text/markdown": WIDGET_NOTE, "text/plain": WIDGET_NOTE}


def stage(reports: Path, src: Path, root: Path = ROOT) -> list[str]:
    """Lay out the site's sources in ``src``; return the notebook page names in order.

    Parameters: ``reports``: the folder of executed notebooks; ``src``: an empty folder to
    fill; ``root``: the repository (its ``notebooks/`` says which notebooks the course has).
    """
    names, presets = [], {}
    for source in notebooks(folder=root / "notebooks"):
        executed = reports / source.name
        if not executed.is_file():
            raise DataError(f"no executed {source.name} in {reports}: run "
                            f"`python -m course_utils.reports --out {reports.parent}` (or "
                            "`make site`) first", path=executed)
        run = _run_record(reports, source.stem)
        presets.setdefault(run.get("preset", "?"), []).append(source.stem)
        page = src / "notebooks" / source.name
        page.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(_page_notebook(executed, run), page)
        names.append(f"notebooks/{source.stem}")
    presets.pop("?", None)  # executed by hand: no record of the preset
    if len(presets) > 1:  # one course, one preset: ci numbers beside binder ones mislead
        raise DataError(f"the notebooks in {reports} ran at different presets ({presets}); run "
                        "them all at one (`make site SITE_PRESET=...`)", path=reports)
    for name in PAGES:
        if (root / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, src / name)
    others = [name[:-3] for name in PAGES[1:] if (src / name).is_file()]
    with open(src / PAGES[0], "a", encoding="utf-8") as readme:  # the navigation, hidden
        readme.write(_toctree("Notebooks", names) + _toctree("Teaching and data", others))
    return names


def _toctree(caption: str, names: list[str]) -> str:
    """A hidden MyST toctree: the sidebar and previous/next order (``caption``, ``names``)."""
    if not names:
        return ""
    return "\n\n```{toctree}\n:hidden:\n:caption: " + caption + "\n\n" + "\n".join(names) + "\n```\n"


def _publish(built: Path, out: Path) -> None:
    """Move the finished site ``built`` to ``out``, replacing an earlier site there.

    Parameters: ``built``: the new site; ``out``: where it goes. A non-empty ``out``
    that is not a site this tool built is never replaced.
    """
    if out.exists() and any(out.iterdir()) and not (out / BUILT_MARK).exists():
        raise CourseError(f"{out} is not empty and not a site built by tools/site.py; it is "
                          "never replaced. Choose another --out", path=out)
    old = out.with_name(f".{out.name}.old.partial")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    os.replace(built, out)
    shutil.rmtree(old, ignore_errors=True)


def build(reports: Path, out: Path, root: Path = ROOT, quiet: bool = True) -> Path:
    """Build the site of the notebooks executed in ``reports`` into ``out``; return its index.

    Parameters: ``reports``: the folder of executed notebooks (one preset's reports);
    ``out``: the site's folder; ``root``: the repository whose pages and notebook list are
    used; ``quiet``: only Sphinx's warnings and errors are printed. Any Sphinx warning
    (a broken link, an unreadable output) fails the build with :class:`CourseError`.
    """
    try:
        from sphinx.cmd.build import build_main
    except ImportError as exc:
        raise CourseError("Sphinx is not installed: install the site extra (`make site` does, or "
                          "`pip install -e '.[site]'`)") from exc
    reports, out = Path(reports).resolve(), Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        stage(reports, work / "src", root)
        html = work / "html"
        args = ["-b", "html", "-c", str(CONF_DIR), "-W", "--keep-going", "-d", str(work / "doctrees"),
                str(work / "src"), str(html)] + (["-q"] if quiet else [])
        if build_main(args) != 0:
            raise CourseError(f"Sphinx could not build the site from {reports} (its warnings are "
                              "printed above: a broken link or an unreadable output)", path=reports)
        (html / "index.html").write_text(  # the usual entry point: the landing page
            '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; '
            'url=README.html"><title>Redirect</title><a href="README.html">The course</a>\n',
            encoding="utf-8")
        _publish(html, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    """Build the site from the command line; 0 on success, 1 on a build error.

    Parameters: ``argv``: command-line arguments (None: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python tools/site.py", description=__doc__.split("\n")[0])
    parser.add_argument("--reports", required=True, help="one preset's executed notebooks, "
                        "e.g. reports/binder")
    parser.add_argument("--out", default=str(ROOT / "reports" / "site"), help="the site's folder")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        index = build(Path(args.reports), Path(args.out))
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"built {index} in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
