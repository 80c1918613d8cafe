"""Exercises of notebook 05."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract

from course_utils import exercises, losses, sampling
from course_utils.exercises._core import VERIFY_ENV

_label = np.random.default_rng(0).integers(0, 3, (4, 5, 6))


def _heads(n=3, seed=0):
    """16³ label maps: a ball of radius 5 (the 'brain', classes 1..4, 4 rare) in background."""
    rng = np.random.default_rng(seed)
    grid = np.indices((16, 16, 16)) - 7.5
    ball = (grid**2).sum(0) <= 5.5**2
    return [np.where(ball, rng.choice(4, size=ball.shape, p=[0.2, 0.35, 0.4, 0.05]) + 1, 0)
            for _ in range(n)]


def _brains(heads):
    """The maps cropped to the ball's bounding box (its corners stay background)."""
    return [lab[(slice(3, 13),) * 3] for lab in heads]


INPUTS = {
    "check_median_frequency": (([_label], 3), None),
    "check_crop_weights": ((_brains(_heads()), _heads(), 5, 4), "same"),
    "check_lesion_weight_sampling": ((0.001, 0.02, 0), "lower"),  # the line set to 0
    "check_smoothing": ((0.2, 0.01, 1e-5), "higher"),  # the line set to 1e-5
    "check_batch_dice": ((0.001, 0.02, False), "lower"),  # the line set to False
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("name, changed, reference, truth", [
    ("check_lesion_weight_sampling", 0.05, 0.02, "higher"),
    ("check_lesion_weight_sampling", 0.021, 0.02, "same"),
    ("check_smoothing", 0.01, 0.2, "lower"),
    ("check_smoothing", 0.2, 0.205, "same"),
    ("check_batch_dice", 0.02, 0.02, "same"),
])
def test_predict_truth_comes_from_the_measurement(name, changed, reference, truth, capsys):
    check = getattr(exercises, name)
    assert check(truth, changed, reference) is True
    others = {"higher", "same", "lower"} - {truth}
    assert all(check(o, changed, reference) is False for o in others)
    assert "Not this time" in capsys.readouterr().out


def test_median_frequency_accepts_the_right_weights(capsys):
    labels = _heads()
    f = np.stack([np.bincount(lab.ravel(), minlength=5) / lab.size for lab in labels]).mean(0)
    assert exercises.check_median_frequency(np.median(f) / f, labels, 5) is True
    assert exercises.check_median_frequency(f / np.median(f), labels, 5) is False  # inverted


def test_crop_weights_truth_is_measured_from_the_maps(capsys):
    heads = _heads()
    # cropping away background keeps the lesion's weight: every brain share grows alike
    assert exercises.check_crop_weights("same", _brains(heads), heads, 5, 4) is True
    assert "class" in capsys.readouterr().out
    # cut into the brain instead, dropping the lesion-rich half: the lesion's weight moves
    halves = [np.where(np.arange(16)[:, None, None] < 8, np.where(lab == 4, 3, lab), lab)
              for lab in heads]  # half of the lesions become white matter
    truth = "higher"
    assert exercises.check_crop_weights(truth, halves, heads, 5, 4) is True
    assert all(exercises.check_crop_weights(o, halves, heads, 5, 4) is False
               for o in ("same", "lower"))


def test_hints_do_not_give_the_answer(capsys):
    for name, right in [("check_lesion_weight_sampling", "lower"), ("check_smoothing", "higher"),
                        ("check_batch_dice", "lower"), ("check_crop_weights", "same")]:
        getattr(exercises, name)(None, *INPUTS[name][0])
        hint = capsys.readouterr().out.split("Hint:")[1]  # the line above may list the choices
        assert right not in hint.lower()


def _confident(labels, n_classes=5, p=0.9999):
    """Perfect predictions: ``p`` on each voxel's class, the rest shared by the others."""
    probs = np.full(labels.shape + (n_classes,), (1 - p) / (n_classes - 1), np.float32)
    np.put_along_axis(probs, labels[..., None].astype(int), p, axis=-1)
    return probs


def _lesion_share(weight, heads):
    """The lesion (class 4) voxel share of balanced 6³ patches drawn from ``heads``."""
    rng = np.random.default_rng(0)
    drawn = [sampling.balanced_patches(lab[..., None].astype(np.float32), lab, 6, 40, rng,
                                       class_weights=[1, 1, 1, 1, weight], n_classes=5)[1]
             for lab in heads]
    return float(sampling.class_frequencies(drawn, 5)[4])


def _measured(name):
    """The marked line unchanged and changed, each with what the notebook measures (real
    sampler, real SoftDice): {setting: args after the prediction}."""
    heads = _heads()
    if name == "check_lesion_weight_sampling":
        rare = [np.where(lab == 4, 3, lab) for lab in heads]  # one small lesion per head
        for lab in rare:
            lab[9:11, 9:11, 9:11] = 4
        equal = _lesion_share(1, rare)
        return {w: (_lesion_share(w, rare), equal, w) for w in (1, 0)}
    empty = np.where(heads[0] == 4, 3, heads[0])[None]  # a patch without lesion
    if name == "check_smoothing":
        loss = {s: float(losses.SoftDice(smooth=s)(empty, _confident(empty))) for s in (1.0, 1e-5)}
        return {s: (loss[s], loss[1.0], s) for s in (1.0, 1e-5)}
    batch = np.concatenate([empty, np.stack(heads[1:])])
    per_patch = float(losses.SoftDice(per_sample=True)(batch, _confident(batch)))
    return {ps: (float(losses.SoftDice(per_sample=ps)(batch, _confident(batch))), per_patch, ps)
            for ps in (True, False)}


@pytest.mark.parametrize("name, unchanged, changed, truth", [
    ("check_lesion_weight_sampling", 1, 0, "lower"),
    ("check_smoothing", 1.0, 1e-5, "higher"),
    ("check_batch_dice", True, False, "lower"),
])
def test_marked_line_starts_unchanged_and_is_judged_once_changed(name, unchanged, changed, truth,
                                                                 monkeypatch, capsys):
    """The notebook's starting value is not judged (change it first), a worked solution verified
    on the notebook as it stands passes, and the changed experiment is judged on the measurement."""
    monkeypatch.delenv(VERIFY_ENV, raising=False)
    check, measured = getattr(exercises, name), _measured(name)
    for prediction in ("higher", "same", "lower"):
        assert check(prediction, *measured[unchanged]) is False
        assert "Change the marked line first" in capsys.readouterr().out
    assert check(truth, *measured[changed]) is True
    assert all(check(o, *measured[changed]) is False for o in {"higher", "same", "lower"} - {truth})
    monkeypatch.setenv(VERIFY_ENV, "1")
    assert check(truth, *measured[unchanged]) is True
