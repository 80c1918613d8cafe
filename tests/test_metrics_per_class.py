"""The per-class Dice and recall taught in notebook 05 (course_utils.metrics), against
scikit-learn, the pooled counts 05 used before, and label maps read back from NIfTI files."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from _helpers import write_nifti
from sklearn.metrics import recall_score

from course_utils import metrics
from course_utils.errors import DataError, ShapeError

K = 5


def _maps(seed=0, shape=(6, 7, 8), classes=K):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, shape).astype(np.uint8)
    pred = np.where(rng.random(shape) < 0.7, truth, rng.integers(0, classes, shape)).astype(np.uint8)
    return pred, truth


def test_recall_equals_sklearn():
    pred, truth = _maps()
    reference = recall_score(truth.ravel(), pred.ravel(), labels=list(range(K)), average=None)
    np.testing.assert_allclose(metrics.recall_per_class(pred, truth, K), reference, rtol=1e-12)


def test_recall_policy_and_a_network_that_never_predicts_the_rare_class():
    pred, truth = _maps(1, classes=4)  # class 4 absent from the truth: nothing to find
    truth[0, 0, :3] = 4
    never = np.where(pred == 4, 3, pred)
    recall = metrics.recall_per_class(never, truth, K)
    assert recall[4] == 0.0  # every true voxel of class 4 missed
    assert metrics.recall_per_class(never, np.where(truth == 4, 3, truth), K)[4] == 1.0
    assert not np.isnan(metrics.dice_per_class(never, np.where(truth == 4, 3, truth), K)).any()


def test_recall_takes_the_arg_max_of_probabilities():
    pred, truth = _maps(2)
    probs = np.eye(K)[pred] * 0.6 + 0.1
    np.testing.assert_array_equal(metrics.recall_per_class(probs, truth, K),
                                  metrics.recall_per_class(pred, truth, K))


@pytest.mark.parametrize("function", [metrics.dice_per_class, metrics.recall_per_class])
def test_bad_maps_are_refused(function):
    pred, truth = _maps(3)
    with pytest.raises(ShapeError):
        function(pred[:2], truth, K)
    with pytest.raises(DataError):
        function(pred, truth, 3)  # labels 3 and 4 outside 0..2
    with pytest.raises(DataError):
        function(np.full(truth.shape + (K,), np.nan), truth, K)


def test_pooled_over_subjects_read_from_nifti(tmp_path):
    """Notebook 05 stacks its test subjects: the same numbers as summing each subject's counts."""
    subjects = []
    for seed in range(3):
        pred, truth = _maps(10 + seed, shape=(9, 10, 11))
        truth[truth == 4] = 3  # a rare class, only in one subject
        if seed == 0:
            truth[2:4, 2:4, 2:4] = 4
        back = []
        for name, array in (("pred", pred), ("truth", truth)):
            path = write_nifti(array, tmp_path / f"{name}{seed}.nii.gz", spacing=(1.0, 1.0, 2.0))
            back.append(sitk.GetArrayFromImage(sitk.ReadImage(path)))
        subjects.append(back)
    preds, truths = (np.stack(maps) for maps in zip(*subjects, strict=True))
    counts = sum(np.array(metrics.confusion_counts(p, t, K)) for p, t in subjects)
    overlap, _, true = counts
    np.testing.assert_allclose(metrics.dice_per_class(preds, truths, K),
                               metrics.dice_from_counts(*counts))
    np.testing.assert_allclose(metrics.recall_per_class(preds, truths, K), overlap / true)
