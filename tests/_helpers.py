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
