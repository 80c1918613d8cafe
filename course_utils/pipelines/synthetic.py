"""Synthetic head-like volumes for the I/O benchmark of lesson 02."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from course_utils import io
from course_utils.pipelines._common import PathLike


def synthetic_volume(shape: Sequence[int], seed: int) -> np.ndarray:
    """An int16 head-like volume ``[z, y, x]``: smooth texture in an ellipsoid, noise, zero
    outside (int16, as scanners store MR). Parameters: ``shape`` (z, y, x); ``seed``."""
    from scipy import ndimage

    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(seed)
    coarse = rng.normal(size=[max(2, s // 8) for s in shape])
    texture = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse.shape, strict=True)],
                           order=1)[: shape[0], : shape[1], : shape[2]]
    grid = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij", sparse=True)
    inside = sum(g**2 for g in grid) < 0.8
    vol = np.where(inside, 600 + 150 * texture + rng.normal(0, 20, shape), 0)
    return np.clip(vol, 0, 32000).astype(np.int16)


def write_synthetic_volumes(folder: PathLike, n: int, shape: Sequence[int],
                            spacing: float = 1.0) -> dict[str, list[str]]:
    """Write ``n`` synthetic volumes as ``.nii.gz`` and uncompressed ``.nii`` (kept if already
    there); returns ``{"gz": [...], "nii": [...]}``.

    Parameters: ``folder`` where they go; ``n`` volumes; ``shape`` (z, y, x);
    ``spacing`` isotropic voxel size in mm.
    """
    import SimpleITK as sitk

    folder = Path(folder)
    out: dict[str, list[str]] = {"gz": [], "nii": []}
    for k in range(int(n)):
        p_gz, p_nii = folder / f"vol{k:04d}.nii.gz", folder / f"vol{k:04d}.nii"
        if not (p_gz.is_file() and p_nii.is_file()):
            img = sitk.GetImageFromArray(synthetic_volume(shape, seed=k))
            img.SetSpacing((float(spacing),) * 3)
            io.write_image(img, p_gz)
            io.write_image(img, p_nii)
        out["gz"].append(str(p_gz))
        out["nii"].append(str(p_nii))
    return out
