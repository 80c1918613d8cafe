"""MR-like images from tissue fractions: contrasts, gain, smooth bias field, Rician noise."""

from __future__ import annotations

import numpy as np

SEQUENCES = ("t1", "t1_ir", "t2_flair")
# Mean intensity per tissue relative to white matter: background, CSF, GM, WM, lesion.
# T1 GM/WM 0.6 and CSF/WM 0.25 are close to a real 2 mm T1 (benchmarks/realism.py);
# white-matter hyperintensities are mildly dark on T1 and bright on FLAIR (~1.8x WM).
CONTRASTS = {
    "t1": (0.0, 0.25, 0.60, 1.00, 0.72),
    "t1_ir": (0.0, 0.05, 0.45, 1.00, 0.55),
    "t2_flair": (0.0, 0.08, 0.75, 0.55, 1.00),
}


def smooth_field(rng: np.random.Generator, axes_mm: list[np.ndarray], control_mm: float,
                 sd: float, components: int) -> np.ndarray:
    """A smooth random field (cubic B-spline through random control values) on a grid.

    Parameters: ``rng`` the random stream; ``axes_mm`` world coordinates along x, y, z;
    ``control_mm`` control point spacing; ``sd`` of the control values; ``components``
    how many independent fields (stacked first).
    """
    from scipy.interpolate import make_interp_spline

    weights = []
    for coords in axes_mm:
        n_ctrl = int(np.ceil((coords[-1] - coords[0]) / control_mm)) + 4
        ctrl = coords[0] - 2 * control_mm + control_mm * np.arange(n_ctrl)
        weights.append(make_interp_spline(ctrl, np.eye(n_ctrl), k=3)(coords).astype(np.float32))
    shape = tuple(w.shape[1] for w in weights)
    out = []
    for _ in range(components):
        field = rng.normal(0.0, sd, size=shape).astype(np.float32)
        field = np.tensordot(weights[0], field, axes=(1, 0))
        field = np.tensordot(weights[1], field, axes=(1, 1)).transpose(1, 0, 2)
        field = np.tensordot(weights[2], field, axes=(1, 2)).transpose(1, 2, 0)
        out.append(field)
    return np.stack(out)


def render_sequences(rng: np.random.Generator, fractions: np.ndarray,
                     axes: list[np.ndarray]) -> dict[str, np.ndarray]:
    """MR-like int16 images of every sequence from tissue fractions (contrast, bias, noise).

    Parameters: ``rng`` the subject's stream; ``fractions`` (5, x, y, z) background, CSF,
    GM, WM, lesion; ``axes`` world coordinates (mm) of the grid along x, y, z.
    """
    noise_sd = rng.uniform(0.02, 0.04)
    images = {}
    for seq in SEQUENCES:
        means = np.array(CONTRASTS[seq]) * (1.0 + rng.normal(0.0, 0.04, 5))
        gain = float(np.exp(rng.normal(0.0, 0.15)))
        intensity = np.tensordot(means.astype(np.float32), fractions, axes=(0, 0))
        intensity *= np.exp(smooth_field(rng, axes, 60.0, 0.1, 1)[0])  # bias field
        n1 = rng.standard_normal(intensity.shape, dtype=np.float32)
        n2 = rng.standard_normal(intensity.shape, dtype=np.float32)
        intensity = np.sqrt((intensity + noise_sd * n1) ** 2 + (noise_sd * n2) ** 2)
        images[seq] = np.clip(np.rint(1000.0 * gain * intensity), 0, 32767).astype(np.int16)
        del intensity, n1, n2
    return images
