"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk


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
