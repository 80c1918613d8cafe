"""Author and tidy the course notebooks.

    python tools/nbtool.py build SRC.py [SRC.py ...]   # jupytext percent script -> notebooks/NAME.ipynb
    python tools/nbtool.py clean [NOTEBOOK ...]        # strip outputs, counts and volatile metadata
    python tools/nbtool.py badges                      # rewrite badge URLs from config.REPOSITORY
    python tools/nbtool.py sync-setup                  # copy 00's setup cell into every notebook

Notebooks are the source of truth and are stored without outputs. Writing a
lesson as a percent script (``# %%`` cells, ``# %% [markdown]``, and
``# %% tags=["parameters"]``) and building it is often quicker than editing
JSON; edit the built notebook in JupyterLab afterwards as usual.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT))

KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
KEEP_CELL_METADATA = {"tags", "jupyter", "cellView"}


def clean(path: Path) -> bool:
    """Strip outputs and volatile metadata from one notebook; return True if it changed.

    Parameters: ``path``: the notebook, rewritten in place.
    """
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    nb.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEEP_CELL_METADATA}
        cell.id = f"c{i:03d}"  # stable ids keep diffs small
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.nbformat, nb.nbformat_minor = 4, 5
    after = nbformat.writes(nb, version=4) + "\n"
    if after != before:
        path.write_text(after, encoding="utf-8")
        return True
    return False


def build(src: Path) -> Path:
    """Convert a percent script to ``notebooks/<stem>.ipynb`` and clean it.

    Parameters: ``src``: a jupytext percent script (``# %%`` cells).
    """
    import jupytext

    nb = jupytext.read(src, fmt="py:percent")
    out = NOTEBOOKS / f"{src.stem}.ipynb"
    nbformat.write(nb, out)
    clean(out)
    return out


def badges() -> None:
    """Rewrite every notebook's Colab/Binder badge URLs from course_utils.config."""
    from course_utils import config

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        rel = f"notebooks/{path.name}"
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"https://colab\.research\.google\.com/github/[^)\"\s]+",
                      config.colab_url(rel), text)
        text = re.sub(r"https://mybinder\.org/v2/gh/[^)\"\s]+", config.binder_url(rel), text)
        path.write_text(text, encoding="utf-8")


def setup_source(path: Path) -> str:
    """The source of a notebook's setup cell (its first code cell).

    Parameters: ``path``: the notebook.
    """
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def sync_setup() -> None:
    """Make every notebook's setup cell identical to the one in 00_setup."""
    reference = setup_source(NOTEBOOKS / "00_setup.ipynb")
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if c.cell_type == "code")
        if cell.source != reference:
            cell.source = reference
            nbformat.write(nb, path)
            clean(path)
            print("synced", path.name)


def main(argv: list[str]) -> int:
    """Run one command (see the module docstring); 2 and the usage for an unknown one.

    Parameters: ``argv``: the command and its arguments (``sys.argv[1:]``).
    """
    if not argv or argv[0] not in {"build", "clean", "badges", "sync-setup"}:
        print(__doc__)
        return 2
    cmd, args = argv[0], [Path(a) for a in argv[1:]]
    if cmd == "build":
        for src in args:
            print("built", build(src).relative_to(ROOT))
    elif cmd == "clean":
        for path in args or sorted(NOTEBOOKS.glob("*.ipynb")):
            if clean(path):
                print("cleaned", path)
    elif cmd == "sync-setup":
        sync_setup()
    else:
        badges()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
