"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from course_utils.exercises._core import VERIFY_ENV

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def write_nifti(array: np.ndarray, path: str | Path, spacing: Sequence[float] = (1.0, 1.0, 1.0),
                origin: Sequence[float] | None = None) -> str:
    """Write a [z, y, x] array as an image file with SimpleITK alone (independent of the
    course's own writer); spacing and origin in (x, y, z) order, as ITK takes them."""
    image = sitk.GetImageFromArray(np.asarray(array))
    image.SetSpacing(tuple(float(s) for s in spacing))
    if origin is not None:
        image.SetOrigin(tuple(float(o) for o in origin))
    sitk.WriteImage(image, str(path))
    return str(path)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare two snapshots to prove nothing changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*"))
            if p.is_file()}


# Answers of every wrong type: a check must judge each with a verdict, never a traceback.
WRONG_ANSWERS = [
    "text", "", 5, -1, 2.5, float("nan"), float("inf"), True, 10**400, 1j, [1, [2, 3]],
    [[1, 2], [3]], {"a": 1}, {1, 2}, object(), np.array(["a", "b"]), [None, None], (i for i in ()),
]


def assert_exercise_contract(check, args: tuple, right, capsys) -> None:
    """``check`` answers None with "not answered", every wrong type with a short ❌ verdict
    (never a traceback) and ``right`` (unless None) with True.

    Parameters: ``check``: an ``exercises.check_*`` function; ``args``: its arguments after
    the answer; ``right``: one right answer (None: skip that part); ``capsys``: pytest's.
    """
    name = check.__name__
    assert check(None, *args) is False, name
    assert "Not answered yet" in capsys.readouterr().out, name
    for answer in WRONG_ANSWERS:
        if right is not None and isinstance(answer, str) and str(right).lower() == answer:
            continue
        assert check(answer, *args) is False, (name, answer)
        out = capsys.readouterr().out
        assert out.startswith("❌") and out.count("\n") <= 3, (name, answer, out)
    if right is not None:
        assert check(right, *args) is True, name
        out = capsys.readouterr().out
        assert out.startswith("✅"), (name, out)


def assert_unchanged_not_judged(check, predictions, args, line, namespace, monkeypatch, capsys):
    """Each prediction made before the marked line was changed is sent back to change it
    (False, no answer given away); in verify mode (COURSE_VERIFY_SOLUTIONS=1) the check,
    called from ``namespace`` (the notebook's variables, unchanged), runs its worked
    solution there (``_verify`` raises if it fails its check) and passes."""
    monkeypatch.delenv(VERIFY_ENV, raising=False)
    for prediction in predictions:
        assert check(prediction, *args) is False
        out = capsys.readouterr().out
        assert "Change the marked line first" in out and line in out
        assert "answer is" not in out and "Not this time" not in out
    monkeypatch.setenv(VERIFY_ENV, "1")
    scope = {**namespace, "check": check, "args": args}
    exec("ok = check(None, *args)", scope)  # noqa: S102 - a notebook cell calling the check
    assert scope["ok"] is False and "Not answered yet" in capsys.readouterr().out


def run_cell(notebook: str, cell_id: str, namespace: dict, change: str | None = None) -> str:
    """Run one code cell of ``notebook`` (as stored) in ``namespace`` and return what it printed.

    Parameters: ``notebook``: its stem; ``cell_id``: the cell's id; ``namespace``: the
    notebook's variables the cell uses; ``change``: the new value of the cell's
    ``# change me`` line, as a learner would type it (None: leave the line as stored).
    """
    cells = json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text(encoding="utf-8"))["cells"]
    code = "".join(next(c for c in cells if c.get("id") == cell_id)["source"])
    if change is not None:
        code, n = re.subn(r"^(\w+) = .*# change me.*$", lambda m: f"{m[1]} = {change}", code,
                          count=1, flags=re.M)
        assert n == 1, f"{notebook} {cell_id} has no `# change me` line"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, namespace)  # noqa: S102 - the notebook's own cell
    return printed.getvalue()
