"""Exercises of notebook 03: each check's contract, and its verdict on real inputs."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import assert_exercise_contract
from scipy import ndimage as ndi

from course_utils import exercises

_volume = np.random.default_rng(0).normal(size=(4, 5, 6))
_mask = _volume > 0


def _head(spacing=(4.0, 4.0, 6.0)) -> tuple[sitk.Image, sitk.Image, np.ndarray]:
    """A noisy ball ("brain", labels 1-3 in shells) in a zero background, anisotropic voxels."""
    shape = (int(round(96 / spacing[2])), 24, 24)
    z, y, x = np.indices(shape).astype(float)
    r = np.sqrt(((z + 0.5) * spacing[2] - 48) ** 2 + ((y + 0.5) * spacing[1] - 48) ** 2
                + ((x + 0.5) * spacing[0] - 48) ** 2)
    label = np.select([r < 15, r < 25, r < 35], [3, 2, 1], 0).astype(np.uint8)
    rng = np.random.default_rng(1)
    t1 = np.where(label > 0, 250.0 * label + rng.normal(0, 60, shape), 0).astype(np.float32)
    images = [sitk.GetImageFromArray(a) for a in (t1, label)]
    for image in images:
        image.SetSpacing(spacing)
    return images[0], images[1], t1


_t1, _label, _t1_array = _head()
_jacobian = np.ones((6, 6, 6))
_jacobian[2:4, 2:4, 2:4] = 1.3
_ventricles = np.zeros((6, 6, 6), bool)
_ventricles[2:4, 2:4, 2:4] = True

INPUTS = {
    "check_masked_whitening": ((_volume, _mask),
                               (_volume - _volume[_mask].mean()) / _volume[_mask].std()),
    "check_whiten_without_mask": ((_t1_array, sitk.GetArrayFromImage(_label) > 0), "above"),
    "check_skip_smoothing": ((_t1, _label, 4.0), "same"),
    "check_resampled_size": ((_t1, 3.0), [32, 32, 32]),
    "check_jacobian_ventricles": ((_jacobian, _ventricles), "above"),
    "check_window_clipping": ((np.random.default_rng(2).normal(15, 5, 5000), (20, 60)), "most"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


def test_skipping_the_blur_when_voxels_grow_is_judged_higher(capsys):
    """Downsampled to 8 mm, the noisy ball's voxel-to-voxel jumps are larger without the blur:
    the check measures it on the images it is given (independently of the notebook)."""
    assert exercises.check_skip_smoothing("higher", _t1, _label, 8.0) is True
    assert "aliasing" in capsys.readouterr().out
    assert exercises.check_skip_smoothing("same", _t1, _label, 8.0) is False


def test_whitening_without_the_mask_lifts_the_brain_above_zero(capsys):
    """Most voxels are background at 0, so without the mask the brain's
    mean lands above zero; the verdict quotes the background's share."""
    assert exercises.check_whiten_without_mask("below", _t1_array,
                                               sitk.GetArrayFromImage(_label) > 0) is False
    out = capsys.readouterr().out
    assert "the answer is 'above'" in out and "background" in out


def test_jacobian_below_one_is_judged_below(capsys):
    shrunk = ndi.gaussian_filter(np.where(_ventricles, 0.7, 1.0), 0.1)
    assert exercises.check_jacobian_ventricles("below", shrunk, _ventricles) is True
    assert exercises.check_jacobian_ventricles("above", shrunk, _ventricles) is False


@pytest.mark.parametrize("window, truth", [((-10, 70), "few"), ((20, 60), "most"),
                                           ((15, 55), "about half")])
def test_window_clipping_is_judged_from_the_rescaled_ct(window, truth, capsys):
    """The notebook's CT-like CSF (15 HU, noise sd 5) through the taught rescale_window: the
    share pinned at -1 decides, and the worked solution (a simulation) agrees with it."""
    from course_utils.preprocessing import rescale_window

    csf = np.random.default_rng(3).normal(15.0, 5.0, 20_000)
    pinned = np.mean(rescale_window(csf, *window) == -1)
    assert exercises.check_window_clipping(truth, csf, window) is True
    assert f"{pinned:.0%}" in capsys.readouterr().out  # the why quotes the measured share
    scope = {}
    exec(exercises.solutions()["window_clipping"],  # noqa: S102
         {"np": np, "HU": {"CSF": 15.0}, "NOISE_HU": 5.0, "window": window}, scope)
    assert scope["prediction"] == truth


def test_unchanged_window_is_not_judged(monkeypatch, capsys):
    """window = (0, 80), as shipped: every prediction is sent back to change the line first."""
    from _helpers import assert_unchanged_not_judged

    csf = np.random.default_rng(3).normal(15.0, 5.0, 2_000)
    assert_unchanged_not_judged(
        exercises.check_window_clipping, ("few", "about half", "most"), (csf, (0, 80)),
        "window = (20, 60)", {"np": np, "HU": {"CSF": 15.0}, "NOISE_HU": 5.0, "window": (0, 80)},
        monkeypatch, capsys)


def test_masked_whitening_hint_does_not_give_the_formula(capsys):
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    mask = image > 5
    exercises.check_masked_whitening(image, image, mask)  # wrong: not whitened
    out = capsys.readouterr().out
    assert "image[mask]" in out
    assert "/ s" not in out and "- m" not in out
