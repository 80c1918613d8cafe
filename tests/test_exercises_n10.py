"""Exercises of notebook 10."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _helpers import NOTEBOOKS, assert_exercise_contract, run_cell

from course_utils import applications as apps
from course_utils import config, exercises

INPUTS = {
    "check_low_res_shape": (((48, 56, 44), 4), [12, 14, 11]),
    "check_upsampling_order": ((0, 18.0, 19.5), "lower"),
    "check_noisy_low_res": ((0.3, 17.0, 17.4, 0.9), "no"),
    "check_ssim_shift": (("shift", 0.71, 0.57), "higher"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_low_res_shape_is_not_the_block_shape_of_another_factor():
    """The old placeholder (24, 28, 22) was right for factor 2; the shape follows the factor."""
    assert exercises.check_low_res_shape((24, 28, 22), (48, 56, 44), 4) is False
    assert exercises.check_low_res_shape((12, 14, 11), (48, 56, 44), 4) is True
    assert exercises.check_low_res_shape((12, 14, 11), (48, 56, 41), 4) is True  # ceil: "same"


@pytest.mark.parametrize(("order", "changed", "truth"), [(0, 18.0, "lower"), (3, 19.505, "same"),
                                                         (3, 19.8, "higher")])
def test_upsampling_order_truth_comes_from_the_measured_psnrs(order, changed, truth):
    assert exercises.check_upsampling_order(truth, order, changed, 19.5) is True


def test_noisy_low_res_yes_when_the_network_still_wins(capsys):
    assert exercises.check_noisy_low_res("yes", 0.1, 20.1, 19.5, 0.9) is True
    assert "+0.60 dB; on clean inputs +0.90 dB" in capsys.readouterr().out
    assert exercises.check_noisy_low_res("yes", 0.3, 17.0, 17.4, 0.9) is False


def test_ssim_shift_truth_follows_real_ssims(capsys):
    """On a real smooth volume a uniform shift keeps contrast and structure: SSIM stays higher."""
    ndimage = pytest.importorskip("scipy.ndimage")
    from course_utils.image_quality import ssim

    rng = np.random.default_rng(0)
    target = ndimage.gaussian_filter(rng.random((24, 24, 24)), 2.0)
    target -= target.min()
    rms = 0.1 * float(np.ptp(target))
    shifted, noisy = target + rms, target + rng.normal(0, rms, target.shape)
    assert np.isclose(np.mean((shifted - target) ** 2), np.mean((noisy - target) ** 2), rtol=0.05)
    args = ("shift", ssim(shifted, target), ssim(noisy, target))
    assert exercises.check_ssim_shift("higher", *args) is True
    assert exercises.check_ssim_shift("lower", *args) is False
    assert "contrast and structure are intact" in capsys.readouterr().out


def test_low_res_shape_hint_says_nothing_of_shapes_before_an_answer(capsys):
    """Under Run All the hint began "expected an array of shape (3,), got shape None."."""
    assert exercises.check_low_res_shape(None, (48, 56, 44), 4) is False
    out = capsys.readouterr().out
    assert "Not answered yet" in out and "How many windows fit" in out
    assert "shape" not in out.split("Hint:", 1)[1].split("Stuck?")[0], out
    assert exercises.check_low_res_shape([12, 14], (48, 56, 44), 4) is False  # a wrong shape
    assert "expected an array of shape (3,), got shape (2,)" in capsys.readouterr().out
    assert exercises.check_low_res_shape([12, 14, 10], (48, 56, 44), 4) is False  # right shape
    assert "expected an array" not in capsys.readouterr().out


@pytest.fixture
def n10_scans(monkeypatch):
    """Five small T1-like volumes (a bright ball in a dark background), their low-resolution
    versions and trilinear upsamplings, with the split and knobs of notebook 10."""
    from course_utils.image_quality import ssim
    from course_utils.networks.super_resolution import low_resolution

    monkeypatch.delenv(exercises._core.VERIFY_ENV, raising=False)
    p = config.resolve("10_super_resolution", preset="ci")
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:24, :24, :24] - 11.5
    ball = np.sqrt(z**2 + y**2 + x**2) < 9
    images = np.stack([np.where(ball, 1.0, -2.0) + rng.normal(0, 0.2, ball.shape)
                       for _ in range(5)])[..., None].astype("float32")
    low = np.asarray(low_resolution(images, p.factor))
    test = np.arange(5) >= 2
    return {"np": np, "apps": apps, "exercises": exercises, "ssim": ssim, "prediction": None,
            "p": p, "images": images, "low": low, "test": test,
            "linear": np.stack([apps.upsample_linear(v, p.factor) for v in low[test]])}


def test_upsampling_order_cell_prints_trilinear_once_until_changed(n10_scans):
    """Run All printed "order 1: 22.34 dB; trilinear (order 1): 22.34 dB" (finding 21)."""
    out = run_cell("10_super_resolution", "c013", dict(n10_scans)).splitlines()
    assert out[0].startswith("trilinear (order 1): ") and out[0].count("dB") == 1, out
    out = run_cell("10_super_resolution", "c013", dict(n10_scans), change="0").splitlines()
    assert out[0].startswith("order 0: ") and "; trilinear (order 1): " in out[0], out


def test_ssim_shift_cell_prints_the_noise_ssim_once_until_changed(n10_scans):
    """Run All printed "noise: ... SSIM 0.883 (noise: SSIM 0.883)" (finding 21)."""
    scope = dict(n10_scans)
    run_cell("10_super_resolution", "c019d", scope)  # defines ssim_in_brain and the noise
    first = run_cell("10_super_resolution", "c019g", dict(scope)).splitlines()[0]
    assert first.startswith("noise: PSNR") and first.count("SSIM") == 1, first
    first = run_cell("10_super_resolution", "c019g", dict(scope), change='"shift"').splitlines()[0]
    assert first.startswith("shift: PSNR") and f"(noise: SSIM {scope['noise_ssim']:.3f})" in first


def test_error_maps_colour_bar_names_what_it_shows(n10_scans):
    """The error maps' colour bar had no label or unit (finding 19)."""
    import matplotlib.pyplot as plt

    scope = {**n10_scans, "plt": plt, "targets": n10_scans["images"][n10_scans["test"]]}
    scope["predicted"] = scope["linear"] + 0.1
    run_cell("10_super_resolution", "c022", scope)
    colour_bar = scope["fig"].axes[-1]
    assert colour_bar.get_ylabel() == "prediction - target (whitened units)"
    plt.close(scope["fig"])


@pytest.mark.parametrize("notebook", ["09_representation_learning", "10_super_resolution"])
def test_the_full_preset_time_and_memory_are_marked_as_estimates(notebook):
    """`full` has never been measured; the table said "These are earlier runs' figures" (12)."""
    intro = "".join(json.loads((NOTEBOOKS / f"{notebook}.ipynb").read_text("utf-8"))["cells"][0]
                    ["source"])
    full = next(line for line in intro.splitlines() if line.startswith("| `full` |"))
    assert full.count("estimate") == 2, full
    assert "`ci` and `binder` are earlier runs' figures, `full` an estimate" in intro
