"""One source for the code the course teaches: notebook cells and ``course_utils`` kept identical.

    python tools/taught.py check    # list every taught definition that differs (exit 1 if any)
    python tools/taught.py write    # copy each taught definition from its notebook into the package
    python tools/taught.py list     # which notebook teaches which definition

A lesson writes an algorithm where it is taught, in a code cell whose first line is::

    # Same code as course_utils.preprocessing (tools/taught.py keeps them identical).

The cell holds only imports and top-level definitions (functions, classes, UPPER_CASE
constants). The notebook is the source (as in d2l's ``#@save``): ``write`` replaces
each definition of the same name in the named module (decorators included) with the
cell's text, or appends it if the module has none; ``check`` (run by
tests/test_taught_code.py) fails when the two differ. Later notebooks import the
package's copy.
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MARKER = re.compile(r"^# Same code as (course_utils(?:\.\w+)+)\b")


@dataclass(frozen=True)
class Taught:
    """One definition taught in a notebook: where it is written and where the package keeps it."""

    notebook: str
    cell: int
    module: str  # dotted, e.g. course_utils.preprocessing
    name: str
    source: str


def module_path(module: str, root: Path = ROOT) -> Path:
    """The file of a dotted ``course_utils`` module (a package's ``__init__.py`` too).

    Parameters: ``module``: dotted name; ``root``: the repository.
    """
    base = root.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def _segments(source: str, where: str) -> dict[str, tuple[int, int, str]]:
    """Top-level definitions of ``source``: name -> (first line, last line, text), 1-based."""
    lines = source.splitlines()
    found = {}
    for node in ast.parse(source, filename=where).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not (len(targets) == 1 and isinstance(targets[0], ast.Name)
                    and targets[0].id.isupper()):
                continue
            name = targets[0].id
        else:
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        found[name] = (first, node.end_lineno, "\n".join(lines[first - 1:node.end_lineno]))
    return found


def _check_cell(tree: ast.Module, where: str) -> None:
    allowed = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
               ast.Assign, ast.AnnAssign, ast.Expr)
    for node in tree.body:
        ok = isinstance(node, allowed) and not (
            isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant))
        if not ok:
            raise ValueError(f"{where}, line {node.lineno}: a taught cell holds only imports and "
                             "definitions; move the demonstration to the next cell")


def taught(notebooks: list[Path] | None = None) -> list[Taught]:
    """Every taught definition of the course's notebooks, in order.

    Parameters: ``notebooks``: the notebooks to read (default: all of ``notebooks/``).
    """
    out = []
    for path in notebooks or sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            match = MARKER.match(cell.source) if cell.cell_type == "code" else None
            if not match:
                continue
            where = f"{path.name}, cell {i}"
            _check_cell(ast.parse(cell.source, filename=where), where)
            for name, (_, _, text) in _segments(cell.source, where).items():
                out.append(Taught(path.name, i, match.group(1), name, text))
    return out


def differences(items: list[Taught], root: Path = ROOT) -> list[str]:
    """A readable report per taught definition missing from, or different in, its module.

    Parameters: ``items``: from :func:`taught`; ``root``: the repository holding the modules.
    """
    report = []
    for item in items:
        path = module_path(item.module, root)
        kept = _segments(path.read_text(encoding="utf-8"), str(path)) if path.exists() else {}
        if item.name not in kept:
            report.append(f"{item.module}.{item.name} (taught in {item.notebook}) is missing from {path}")
        elif kept[item.name][2] != item.source:
            diff = difflib.unified_diff(kept[item.name][2].splitlines(), item.source.splitlines(),
                                        f"{path.relative_to(root)}", item.notebook, lineterm="")
            report.append(f"{item.module}.{item.name} differs:\n" + "\n".join(diff))
    return report


def write(items: list[Taught], root: Path = ROOT) -> list[str]:
    """Copy each taught definition into its module; return the names changed.

    Parameters: ``items``: from :func:`taught`; ``root``: the repository holding the modules.
    """
    changed = []
    for item in items:
        path = module_path(item.module, root)
        text = path.read_text(encoding="utf-8")
        kept = _segments(text, str(path))
        lines = text.splitlines()
        if item.name in kept:
            first, last, old = kept[item.name]
            if old == item.source:
                continue
            lines[first - 1:last] = item.source.splitlines()
        else:
            lines += ["", ""] + item.source.splitlines()
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        changed.append(f"{item.module}.{item.name}")
    return changed


def main(argv: list[str]) -> int:
    """Run ``check``, ``write`` or ``list`` (see the module docstring); 2 and the usage otherwise.

    Parameters: ``argv``: the command (``sys.argv[1:]``).
    """
    if argv[:1] not in (["check"], ["write"], ["list"]):
        print(__doc__)
        return 2
    items = taught()
    if argv[0] == "list":
        for item in items:
            print(f"{item.notebook:40s} {item.module}.{item.name}")
        return 0
    if argv[0] == "write":
        for name in write(items):
            print("wrote", name)
        return 0
    report = differences(items)
    print("\n\n".join(report) or f"{len(items)} taught definitions, all identical in course_utils.")
    return 1 if report else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
