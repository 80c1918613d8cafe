"""One subject's anatomy: random draws, lesions, deformation, atrophy to the norms, labels."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from course_utils.data.synthetic import norms
from course_utils.data.synthetic._render import smooth_field

ORIENTATIONS = ("LPS", "LPS", "LPS", "RAS", "RAS", "PIL", "LIP", "RPI")
SEX_SCALE = 0.021  # log head scale: +0.021 men, -0.021 women (volumes ~13 % apart)
SCALE_SD = 0.025  # individual log head scale


def subject_parameters(seed: int, index: int, spacing: float) -> dict[str, Any]:
    """The random draws of subject ``index`` of cohort ``seed`` at ``spacing`` mm.

    Parameters: ``seed`` the cohort's seed; ``index`` the subject's number (0-based);
    ``spacing`` the voxel size in mm.
    """
    rng = np.random.default_rng([int(seed), int(index)])
    # sexes balanced in pairs (2k, 2k+1): one man, one woman, in random order
    first_is_male = np.random.default_rng([int(seed), int(index) // 2, 1]).random() < 0.5
    sex = "M" if first_is_male == (index % 2 == 0) else "F"
    low, high = norms.AGE_RANGE_YEARS
    age = round(float(rng.uniform(low, high)), 2)
    male = 1.0 if sex == "M" else -1.0
    anisotropic = rng.random() < 0.4
    factors = np.ones(3)
    if anisotropic:
        factors[rng.integers(3)] = 1.5
    shift = rng.integers(-2, 3, size=3) if rng.random() < 0.5 else np.zeros(3, int)
    bio_age = age + rng.normal(0.0, norms.BIOLOGICAL_AGE_SD_YEARS)
    lesion_ml = norms.wmh_median_ml(age) * np.exp(rng.normal(0.0, norms.WMH_LOG_SD))
    return {
        "index": int(index), "sex": sex, "age": age, "t": (age - low) / (high - low),
        "log_scale": float(SEX_SCALE * male + rng.normal(0.0, SCALE_SD)),
        "tb": float((bio_age - low) / (high - low)),
        "grey_fraction": float(norms.grey_fraction(bio_age)
                               + rng.normal(0.0, norms.GREY_FRACTION_SD)),
        "white_fraction": float(norms.white_fraction(bio_age)
                                + rng.normal(0.0, norms.WHITE_FRACTION_SD)),
        "lesion_ml": float(min(lesion_ml, norms.WMH_MAX_ML)),
        "orientation": str(ORIENTATIONS[rng.integers(len(ORIENTATIONS))]),
        "voxel": [float(spacing * f) for f in factors],
        "shift_voxels": [int(s) for s in shift],
        "stream": int(rng.integers(2**31)),  # seeds the bulky draws below
    }


def ventricle_push(tb: float) -> float:
    """Strength ``alpha`` (mm^2) of the push towards the ventricles at biological age ``tb`` (0..1).

    Parameters: ``tb`` = (biological age - 20) / 66. The push ``alpha * grad(G_8mm * V)``
    moves points by at most ~``alpha / 20`` mm; capped at 170 mm^2, well below the value at which
    the map would fold (``alpha * max|Hessian| < 1``).
    """
    return float(np.clip(30.0 + 120.0 * tb, 0.0, 170.0))


def head_scale(tpl: dict[str, Any], p: dict[str, Any]) -> float:
    """Linear scale of subject ``p``'s head: the template brought to the mean ICV, times sex and noise.

    Parameters: ``tpl`` from prepare_template; ``p`` from :func:`subject_parameters`.
    """
    return float((norms.ICV_ML / tpl["icv_ml"]) ** (1 / 3) * np.exp(p["log_scale"]))


def render_lesions(rng: np.random.Generator, tpl: dict[str, Any], p: dict[str, Any]) -> np.ndarray:
    """Lesion fraction on the template grid: smooth noise over the prior, thresholded to ``lesion_ml``.

    Parameters: ``rng`` the subject's stream; ``tpl`` from prepare_template; ``p`` from
    :func:`subject_parameters`. Smooth noise (4 mm and 1.5 mm) added to the prior is cut at
    the level that leaves the wanted volume (before the head is scaled): few high points,
    caps and deep foci, in the young; bands and confluent areas in the oldest. The edge is
    soft (partial volume).
    """
    spacing, prior = tpl["spacing"], tpl["lesion_prior"]
    score = prior.copy()
    for sigma_mm, weight in ((4.0, 1.0), (1.5, 0.4)):
        noise = ndi.gaussian_filter(rng.standard_normal(prior.shape, dtype=np.float32),
                                    sigma_mm / spacing)
        score += weight * noise / max(float(noise.std()), 1e-6)
    inside = prior > 0
    values, wm = score[inside], tpl["maps"]["wm"][inside]
    voxels = p["lesion_ml"] / head_scale(tpl, p) ** 3 / (spacing**3 / 1000.0)
    n = voxels
    for _ in range(2):  # the second pass corrects for soft edges and partial white matter
        k = int(np.clip(round(n), 1, values.size))
        threshold = np.partition(values, values.size - k)[values.size - k]
        lesion = np.clip((values - threshold) / 0.25 + 0.5, 0.0, 1.0) * wm
        n = k * voxels / max(float(lesion.sum()), 1e-6)
    out = np.zeros(prior.shape, np.float32)
    out[inside] = lesion
    return out


def _backward_map(rng: np.random.Generator, tpl: dict[str, Any], p: dict[str, Any],
                  axes: list[np.ndarray]) -> np.ndarray:
    """Template voxel coordinates of every acquisition point: scale, deformation, ventricles."""
    spacing, scale = tpl["spacing"], head_scale(tpl, p)
    size = [len(a) for a in axes]
    disp = smooth_field(rng, axes, 20.0, 2.0, 3)
    coords = np.empty((3, *size), np.float32)
    for a in range(3):
        shape = [1, 1, 1]
        shape[a] = size[a]
        base = (tpl["centre"][a] + (axes[a] - tpl["centre"][a]) / scale).reshape(shape)
        coords[a] = (base + disp[a] - tpl["origin"][a]) / spacing
    del disp
    alpha = ventricle_push(p["tb"])
    for a, grad in enumerate(tpl["grad_v"]):
        coords[a] += alpha * ndi.map_coordinates(grad, coords, order=1, mode="nearest") / spacing
    return coords


def atrophy(tissue: np.ndarray, near: np.ndarray, target: float) -> np.ndarray:
    """The part of ``tissue`` that becomes CSF so that ``target`` is left, taken from its CSF side.

    Parameters: ``tissue`` fractions; ``near`` (0..1) how much CSF or background is close;
    ``target`` the wanted sum of ``tissue`` (voxels). The share ``min(g * near, 0.9)`` is
    removed, with ``g`` found by bisection; nothing is removed if the tissue is already
    below the target.
    """
    excess = float(tissue.sum()) - target
    if excess <= 0:
        return np.zeros_like(tissue)
    low, high = 0.0, 20.0
    for _ in range(24):
        g = (low + high) / 2
        if float((tissue * np.minimum(g * near, 0.9)).sum()) < excess:
            low = g
        else:
            high = g
    return tissue * np.minimum(high * near, 0.9)


def fractions(rng: np.random.Generator, tpl: dict[str, Any], p: dict[str, Any],
              axes: list[np.ndarray], lesion_map: np.ndarray) -> np.ndarray:
    """Tissue fractions (background, CSF, GM, WM, lesion) on the acquisition grid ``axes``.

    Parameters: ``rng`` the subject's stream; ``tpl`` from prepare_template; ``p`` from
    :func:`subject_parameters`; ``axes`` world coordinates (mm) of the grid along x, y, z;
    ``lesion_map`` from :func:`render_lesions`. Grey and white matter are thinned from
    their CSF side to the subject's fractions of its intracranial volume.
    """
    coords = _backward_map(rng, tpl, p, axes)
    csf, gm, wm, les, near = (
        ndi.map_coordinates(array, coords, order=1, mode="constant", cval=0.0)
        for array in (*(tpl["maps"][k] for k in ("csf", "gm", "wm")), lesion_map,
                      tpl["near_csf"]))
    del coords
    les = np.minimum(les, wm)
    wm -= les
    icv = float(np.clip(csf + gm + wm + les, 0, 1).sum())
    for tissue, key in ((gm, "grey_fraction"), (wm, "white_fraction")):
        lost = atrophy(tissue, near, p[key] * icv - (float(les.sum()) if tissue is wm else 0.0))
        tissue -= lost
        csf += lost
    bg = np.clip(1.0 - csf - gm - wm - les, 0.0, 1.0)
    return np.stack([bg, csf, gm, wm, les])


def labels(fractions: np.ndarray, iterations: int = 8) -> np.ndarray:
    """Hard labels whose volumes match the tissue volumes: argmax of weighted fractions.

    Parameters: ``fractions`` (5, x, y, z) background, CSF, GM, WM, lesion; ``iterations``
    of the weight update. Plain argmax gives the mixed voxels at tissue borders to grey
    matter (the middle tissue: +15 % at 2 mm); each class weight is updated by
    ``sqrt(tissue volume / label volume)`` until the two agree.
    """
    volumes = fractions.reshape(len(fractions), -1).sum(1)
    weights = np.ones(len(fractions), np.float32)
    for _ in range(iterations):
        label = np.argmax(fractions * weights[:, None, None, None], axis=0)
        counts = np.bincount(label.ravel(), minlength=len(fractions)).astype(float)
        weights *= np.sqrt(np.maximum(volumes, 1.0) / np.maximum(counts, 1.0)).astype(np.float32)
    return np.argmax(fractions * weights[:, None, None, None], axis=0).astype(np.uint8)
