"""Exercises of notebook 09."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract, run_cell

from course_utils import config, exercises
from course_utils.image_quality import psnr

_volume = np.random.default_rng(0).normal(size=(4, 5, 6))
INPUTS = {
    "check_psnr_doubled_error": ((_volume + 0.1, _volume), 10 * np.log10(np.ptp(_volume) ** 2 / 0.04)),
    "check_code_size": ((8, 20.0, 2, 18.5), "lower"),
    "check_noisy_input": ((1.0, 14.0, 17.5), "reconstruction"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_psnr_doubled_error_is_not_the_psnr_already_printed():
    """The old exercise asked for the PSNR the notebook had just computed with psnr()."""
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(6, 7, 8))
    predicted = reference + rng.normal(0, 0.2, reference.shape)
    printed = 10 * np.log10(np.ptp(reference) ** 2 / np.mean((predicted - reference) ** 2))
    assert exercises.check_psnr_doubled_error(printed, predicted, reference) is False
    assert exercises.check_psnr_doubled_error(printed - 3.01, predicted, reference) is False  # MSE x2
    assert exercises.check_psnr_doubled_error(printed - 6.02, predicted, reference) is True


@pytest.mark.parametrize(("args", "truth"), [
    ((8, 20.0, 2, 18.5), "lower"), ((8, 20.0, 12, 20.6), "higher"), ((8, 20.0, 9, 20.005), "same"),
])
def test_code_size_truth_comes_from_the_measured_psnrs(args, truth, capsys):
    assert exercises.check_code_size(truth, *args) is True
    wrong = next(c for c in ("higher", "same", "lower") if c != truth)
    assert exercises.check_code_size(wrong, *args) is False
    assert f"the answer is {truth!r}" in capsys.readouterr().out


def test_noisy_input_with_faint_noise_the_input_wins(capsys):
    assert exercises.check_noisy_input("noisy input", 0.05, 40.0, 17.0) is True
    assert exercises.check_noisy_input("reconstruction", 0.3, 22.0, 17.0) is False
    assert "Try a larger noise_sd" in capsys.readouterr().out


@pytest.mark.parametrize(("name", "args", "line"), [  # 09's and 10's predict checks
    ("check_code_size", (8, 20.0, 8, 20.0), "`n_components = 8`"),
    ("check_noisy_input", (0.0, float("inf"), 17.0), "`noise_sd = 0.0`"),
    ("check_upsampling_order", (1, 19.5, 19.5), "`order = 1`"),
    ("check_noisy_low_res", (0.0, 20.1, 19.5, 0.6), "`noise_sd = 0.0`"),
    ("check_ssim_shift", ("noise", 0.57, 0.57), '`distortion = "noise"`'),
])
def test_a_prediction_before_the_marked_line_is_changed_is_not_judged(name, args, line, capsys,
                                                                      monkeypatch):
    """The old checks judged the unchanged experiment: "same" (or "yes", "noisy input") was right."""
    monkeypatch.delenv(exercises._core.VERIFY_ENV, raising=False)
    check = getattr(exercises, name)
    for prediction in ("higher", "same", "lower", "reconstruction", "noisy input", "yes", "no"):
        assert check(prediction, *args) is False
        out = capsys.readouterr().out
        assert out.startswith(f"⏳ Change the marked line first ({line}"), out
        assert "✅" not in out and "❌" not in out and "the answer is" not in out
    assert check(None, *args) is False
    assert "Not answered yet" in capsys.readouterr().out


def test_verify_mode_passes_the_worked_solutions_on_the_unchanged_notebook(monkeypatch, capsys):
    """make notebooks (COURSE_VERIFY_SOLUTIONS=1) runs Run All, where the lines are unchanged."""
    monkeypatch.setenv(exercises._core.VERIFY_ENV, "1")
    namespace = {"np": np, "n_components": 8, "noise_sd": 0.0, "mse": [0.2],
                 "check": exercises.check_code_size, "check_noise": exercises.check_noisy_input}
    exec("ok = check(None, 8, 20.0, n_components, 20.0)\n"  # noqa: S102
         "ok_noise = check_noise(None, noise_sd, float('inf'), 17.0)", namespace)
    assert namespace["ok"] is False and namespace["ok_noise"] is False  # unanswered, not failed
    assert capsys.readouterr().out.count("Not answered yet") == 2


@pytest.fixture
def n09_scans(monkeypatch):
    """Ten small three-sequence "scans" with the split, mean image and knobs of notebook 09."""
    monkeypatch.delenv(exercises._core.VERIFY_ENV, raising=False)
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(10, 8, 8, 8, 3)) + np.linspace(-1, 1, 8)[:, None, None, None]
              ).astype("float32")
    train, test = np.arange(10) < 6, np.arange(10) >= 6
    mean_image = images[train].mean(axis=0)
    return {"np": np, "exercises": exercises, "psnr": psnr, "prediction": None,
            "p": config.resolve("09_representation_learning", preset="ci"), "images": images,
            "train": train, "test": test, "mean_image": mean_image,
            "deviations": images - mean_image}


@pytest.mark.parametrize("ae_psnr", [1.0, 99.0])
def test_code_size_cell_prints_each_code_once_and_whether_pca_wins(n09_scans, ae_psnr):
    """Run All printed "PCA, 8 numbers: 26.41 dB; 8 numbers: 26.41 dB" and never said that PCA
    beat the autoencoder (review of 06-10, findings 8 and 21)."""
    scope = {**n09_scans, "ae_psnr": [ae_psnr] * 4}
    out = run_cell("09_representation_learning", "c023", scope)
    assert out.count("8 numbers:") == 1, out
    verdict = "beats" if scope["pca_reference"] > ae_psnr else "does not beat"
    assert f"PCA with 8 numbers {verdict} the autoencoder with 32 (mean test PSNR)" in out, out
    assert "Not answered yet" in out
    changed = run_cell("09_representation_learning", "c023", {**n09_scans, "ae_psnr": [ae_psnr]},
                       change="2")
    first = changed.splitlines()[0]
    assert "PCA, 8 numbers:" in first and "; 2 numbers:" in first, changed


def test_test_scores_cell_says_on_how_many_subjects_the_model_wins(n09_scans):
    """The MSE and PSNR averages disagreed at `ci` with nothing to tell why (finding 11). An
    untrained autoencoder returns the mean image: it wins on no subject, and both agree."""
    from course_utils.networks import autoencoder_3d

    scope = {**n09_scans, "model": autoencoder_3d((8, 8, 8, 3), latent_size=4, filters=(4,))}
    out = run_cell("09_representation_learning", "c014", scope)
    assert scope["mse"] == pytest.approx(scope["base_mse"])
    assert out.splitlines()[-1] == ("the autoencoder has the lower MSE on 0 of 4 test subjects; "
                                    "the mean MSE and the mean PSNR agree on which of the two "
                                    "is better"), out


def test_noisy_input_cell_prints_no_infinite_psnr_before_the_change(n09_scans):
    """Run All printed "noise_sd 0.0: noisy scans inf dB"; a real (untrained) autoencoder."""
    from course_utils.networks import autoencoder_3d

    scope = {**n09_scans, "model": autoencoder_3d((8, 8, 8, 3), latent_size=4, filters=(4,))}
    out = run_cell("09_representation_learning", "c020", dict(scope))
    assert "inf" not in out and out.startswith("no noise yet: the reconstructions"), out
    out = run_cell("09_representation_learning", "c020", dict(scope), change="1.0")
    assert out.startswith("noise_sd 1.0: noisy scans ") and "inf" not in out, out
    assert "Change the marked line" not in out and "Not answered yet" in out
