"""The MNI152 template inside nilearn, on the cohort's canonical LPS grid, with helper fields."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from course_utils.data import _common
from course_utils.errors import DataError

MARGIN_MM = 12.0
PUSH_SIGMA_MM = 8.0  # smoothing of the ventricle mask whose gradient pushes the anatomy
T1_FILE = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
GM_FILE = "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"
WM_FILE = "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz"


def _nilearn_data_dir() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("nilearn")  # locate without importing (slow)
    if spec is None or not spec.submodule_search_locations:
        raise DataError("nilearn is not installed; run `pip install 'nilearn>=0.10.3'`")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def _load_lps(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A nilearn template as a float32 [x, y, z] array on an LPS grid, and its origin."""
    import nibabel as nib

    path = _nilearn_data_dir() / name
    if not path.is_file():
        raise DataError(
            f"{path} is missing from your nilearn installation; reinstall nilearn "
            "(pip install --force-reinstall 'nilearn>=0.10.3')", path=path)
    img = nib.load(str(path))
    array = np.asanyarray(img.dataobj).astype(np.float32)
    affine = img.affine
    if not np.allclose(affine[:3, :3], np.diag(np.diag(affine[:3, :3]))):
        raise DataError(f"{path} has an oblique affine; expected the MNI152 template", path=path)
    # RAS world -> LPS world: flip x and y
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    origin = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, 3]
    for axis in range(3):
        step = lps[axis, axis]
        if step < 0:  # flip so the axis increases along +LPS
            origin[axis] = origin[axis] + step * (array.shape[axis] - 1)
            array = np.flip(array, axis)
    return np.ascontiguousarray(array), origin


@functools.lru_cache(maxsize=2)
def canonical_grid(spacing: float) -> dict[str, Any]:
    """The common LPS grid at ``spacing``: brain bounding box + margin, a multiple of 8 voxels.

    Parameters: ``spacing`` the voxel size in mm.
    """
    t1, origin1 = _load_lps(T1_FILE)
    mask = t1 > 0.05 * t1.max()  # skull-stripped template: ventricles are above this
    idx = np.argwhere(mask)
    lo, hi = idx.min(0) + origin1, idx.max(0) + origin1
    centre = (lo + hi) / 2.0
    shape = np.array([_common._round_up((h - low + 2 * MARGIN_MM) / spacing, 8)
                      for low, h in zip(lo, hi, strict=True)])
    origin = centre - (shape - 1) / 2.0 * spacing
    return {"shape": shape, "origin": origin, "centre": centre, "origin1": origin1, "mask": mask}


def _template_fractions(mask: np.ndarray) -> dict[str, np.ndarray]:
    """CSF, grey and white matter fractions of the 1 mm template (CSF: the mask's remainder)."""
    gm, _ = _load_lps(GM_FILE)
    wm, _ = _load_lps(WM_FILE)
    gm /= 255.0
    wm /= 255.0
    csf = np.clip(mask.astype(np.float32) - np.clip(gm + wm, 0, 1), 0, 1)
    return {"csf": csf, "gm": gm, "wm": wm}


def _to_grid(array: np.ndarray, origin1: np.ndarray, spacing: float, shape: np.ndarray,
             origin: np.ndarray) -> np.ndarray:
    """Resample a 1 mm template array onto the grid (``spacing``, ``shape``, ``origin``)."""
    pool = 2 if spacing >= 2.0 else 1  # average-pool by 2 first when coarse: fast, anti-aliased
    if pool > 1:
        a = array[tuple(slice(0, (n // pool) * pool) for n in array.shape)]
        array = a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, a.shape[2] // 2, 2).mean(
            axis=(1, 3, 5))
    if spacing > pool:
        array = ndi.gaussian_filter(array, 0.42 * np.sqrt(spacing**2 - pool**2) / pool)
    offset = (origin - (origin1 + (pool - 1) / 2.0)) / pool  # in pooled voxels
    return ndi.affine_transform(array, np.full(3, spacing / pool), offset=offset,
                                output_shape=tuple(shape), order=1, mode="constant",
                                cval=0.0).astype(np.float32)


def _ventricles(maps: dict[str, np.ndarray], spacing: float) -> np.ndarray:
    """Lateral ventricles: deep CSF (> 15 mm inside the brain) in big connected parts."""
    depth = ndi.distance_transform_edt(maps["csf"] + maps["gm"] + maps["wm"] > 0.5,
                                       sampling=spacing)
    vent = (maps["csf"] > 0.5) & (depth > 15.0)
    lab, n = ndi.label(vent)
    if n:
        sizes = ndi.sum(vent, lab, range(1, n + 1)) * spacing**3
        vent = np.isin(lab, 1 + np.flatnonzero(sizes > 5000.0))
    return vent


def _lesion_prior(maps: dict[str, np.ndarray], vent: np.ndarray, spacing: float) -> np.ndarray:
    """Where white-matter hyperintensities start: caps at the horns, a band, deep white matter.

    Caps ``2 exp(-r^2 / 2 (10 mm)^2)`` at the front and back tips of each lateral
    ventricle, a periventricular band ``3 exp(-distance / 6 mm)`` and a floor of 0.8 in
    white matter more than 4 mm from the cortex (deep foci); zero outside white matter.
    """
    wm = maps["wm"] > 0.5
    if not vent.any():  # coarse grids (~8 mm) lose the ventricles: white matter only
        return np.where(wm, 1.0, 0.0).astype(np.float32)
    dist_v = ndi.distance_transform_edt(~vent, sampling=spacing)
    prior = 3.0 * np.exp(-dist_v / 6.0)
    idx = np.argwhere(vent)
    mid = (idx[:, 0].min() + idx[:, 0].max()) / 2.0
    grid = np.indices(vent.shape, dtype=np.float32)
    for side in (idx[idx[:, 0] < mid], idx[idx[:, 0] >= mid]):
        for tip in (side[side[:, 1].argmin()], side[side[:, 1].argmax()]):  # front, back
            d2 = sum((g - c) ** 2 for g, c in zip(grid, tip, strict=True)) * spacing**2
            prior += 2.0 * np.exp(-d2 / (2 * 10.0**2))
    deep = ndi.distance_transform_edt(maps["gm"] < 0.5, sampling=spacing) > 4.0
    prior = np.maximum(prior, 0.8 * deep)
    return np.where(wm, prior, 0.0).astype(np.float32)


@functools.lru_cache(maxsize=2)
def prepare_template(spacing: float) -> dict[str, Any]:
    """Tissue maps and helper fields of the template on the canonical LPS grid at ``spacing``.

    Parameters: ``spacing`` the voxel size in mm.
    """
    grid = canonical_grid(spacing)
    fractions = _template_fractions(grid["mask"])
    icv_ml = float(np.clip(sum(fractions.values()), 0, 1).sum()) / 1000.0  # 1 mm voxels
    maps = {k: np.clip(_to_grid(v, grid["origin1"], spacing, grid["shape"], grid["origin"]), 0, 1)
            for k, v in fractions.items()}
    del fractions
    vent = _ventricles(maps, spacing)
    smooth_v = ndi.gaussian_filter(vent.astype(np.float32), PUSH_SIGMA_MM / spacing)
    grads = [g / spacing for g in np.gradient(smooth_v)]  # per mm
    # CSF-or-outside neighbourhood (~2 mm), for atrophy from the CSF side
    outside = 1.0 - maps["gm"] - maps["wm"]
    near_csf = np.clip(ndi.gaussian_filter(outside, max(2.0 / spacing, 0.5)), 0, 1)
    return {
        "spacing": float(spacing), "shape": tuple(int(s) for s in grid["shape"]),
        "origin": grid["origin"], "centre": grid["centre"], "maps": maps, "grad_v": grads,
        "near_csf": near_csf.astype(np.float32), "icv_ml": icv_ml,
        "lesion_prior": _lesion_prior(maps, vent, spacing),
    }
