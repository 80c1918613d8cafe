"""course_utils.metrics against scikit-learn's F1 and direct counts; the empty-class policy."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import f1_score

from course_utils import metrics
from course_utils.errors import ConfigError, DataError, ShapeError

K = 5


def _masks(seed=0, shape=(3, 6, 7, 8), classes=K):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, shape).astype(np.uint8)
    pred = np.where(rng.random(shape) < 0.7, truth, rng.integers(0, classes, shape)).astype(
        np.uint8)
    return pred, truth


def test_dice_per_class_equals_sklearn_f1():
    pred, truth = _masks()
    ours = metrics.dice_per_class(pred, truth, K)
    reference = f1_score(truth.ravel(), pred.ravel(), labels=list(range(K)), average=None)
    np.testing.assert_allclose(ours, reference, rtol=1e-12)


def test_probabilities_are_arg_maxed():
    pred, truth = _masks(1)
    probs = np.eye(K)[pred] * 0.6 + 0.1
    np.testing.assert_allclose(metrics.dice_per_class(probs, truth, K),
                               metrics.dice_per_class(pred, truth, K))


def test_empty_class_policy():
    pred, truth = _masks(2, classes=3)  # classes 3 and 4 absent from both
    dice = metrics.dice_per_class(pred, truth, K)
    np.testing.assert_array_equal(dice[3:], 1.0)
    assert not np.any(np.isnan(dice))
    # sklearn agrees on the present classes (it would give 0 + a warning on the absent ones)
    np.testing.assert_allclose(dice[:3], f1_score(truth.ravel(), pred.ravel(), labels=[0, 1, 2],
                                                  average=None))
    pred[0, 0, 0, 0] = 4  # predicted but absent from the truth: Dice 0
    assert metrics.dice_per_class(pred, truth, K)[4] == 0.0
    assert metrics.dice_per_class(truth, pred, K)[4] == 0.0  # and the reverse


def test_volume_difference():
    pred, truth = _masks(3)
    expected = np.abs(np.bincount(pred.ravel(), minlength=K) - np.bincount(truth.ravel(),
                                                                             minlength=K))
    np.testing.assert_array_equal(metrics.volume_difference(pred, truth, K), expected)
    np.testing.assert_allclose(metrics.volume_difference(pred, truth, K, spacing=(2, 2, 2)),
                               expected * 8 / 1000)  # millilitres
    relative = metrics.volume_difference(pred, truth, K, relative=True)
    np.testing.assert_allclose(relative, 100 * expected / np.bincount(truth.ravel(), minlength=K))
    empty_truth = np.zeros_like(truth)
    rel = metrics.volume_difference(pred, empty_truth, K, relative=True)
    assert np.all(np.isinf(rel[1:]))
    assert metrics.volume_difference(empty_truth, empty_truth, K, relative=True)[1] == 0


def test_bad_inputs():
    pred, truth = _masks(4)
    with pytest.raises(ShapeError, match="does not match"):
        metrics.dice_per_class(pred[:1], truth, K)
    with pytest.raises(DataError, match="outside the class range"):
        metrics.dice_per_class(pred, truth, 3)
    with pytest.raises(DataError, match="intensity image"):
        metrics.dice_per_class(pred + 0.25, truth, K)


def test_keras_dice_accumulates_over_batches_like_numpy():
    pred, truth = _masks(5, classes=4)  # class 4 never occurs: Dice 1 by policy
    probs = (np.eye(K)[pred] * 0.8 + 0.04).astype(np.float32)
    metric = metrics.DicePerClass(K)
    for i in range(3):  # one sample per batch
        metric.update_state(truth[i:i + 1], probs[i:i + 1])
    expected = metrics.dice_per_class(pred, truth, K)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(metric.per_class()), expected,
                               rtol=1e-6)
    np.testing.assert_allclose(float(metric.result()), expected.mean(), rtol=1e-6)
    lesion = metrics.DicePerClass(K, class_id=2)
    lesion.update_state(truth[..., None], probs)  # labels with a trailing axis of 1
    np.testing.assert_allclose(float(lesion.result()), expected[2], rtol=1e-6)
    metric.reset_state()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(metric.per_class()), 1.0)
    again = metrics.DicePerClass.from_config(lesion.get_config())
    assert again.class_id == 2 and again.n_classes == K and again.name == lesion.name


def test_keras_volume_difference_is_mean_per_sample():
    pred, truth = _masks(6)
    probs = np.eye(K, dtype=np.float32)[pred]
    metric = metrics.VolumeDifference(K)
    metric.update_state(truth[:2], probs[:2])
    metric.update_state(truth[2:], probs[2:])
    per_sample = np.stack([metrics.volume_difference(p, t, K) for p, t in zip(pred, truth,
                                                                                 strict=True)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(metric.per_class()),
                               per_sample.mean(0), rtol=1e-6)


def test_dice_metrics_in_fit():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(4, 6, 6, 6, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.uint8)
    inputs = keras.Input((6, 6, 6, 1))
    model = keras.Model(inputs, keras.layers.Conv3D(2, 1, activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=metrics.dice_metrics(2, ["background", "grey matter"]))
    history = model.fit(x, y, epochs=1, verbose=0)
    assert {"dice_background", "dice_grey_matter"} <= set(history.history)
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(result["dice_grey_matter"],
                               metrics.dice_per_class(pred, y, 2)[1], rtol=1e-5)


def test_keras_metric_with_labels_out_of_range_is_nan_not_silent():
    pred, truth = _masks(7)
    probs = np.eye(K, dtype=np.float32)[pred]
    bad = truth.copy()
    bad[0, 0, 0, 0] = K
    metric = metrics.DicePerClass(K)
    metric.update_state(bad, probs)
    assert np.isnan(float(metric.result()))


def test_nan_probabilities_are_refused_not_arg_maxed():
    """argmax used to turn a NaN voxel into a confident class: Dice 0.46, 0, 0 with no warning."""
    pred, truth = _masks(8)
    probs = np.eye(K, dtype=np.float32)[pred]
    probs[0, 0, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        metrics.dice_per_class(probs, truth, K)
    for metric in (metrics.DicePerClass(K), metrics.VolumeDifference(K)):
        metric.update_state(truth, probs)
        assert np.isnan(float(metric.result())), metric.name


def test_keras_metrics_refuse_one_hot_targets_fractional_labels_and_sample_weights():
    pred, truth = _masks(9)
    probs = np.eye(K, dtype=np.float32)[pred]
    with pytest.raises(ShapeError, match="one-hot"):
        metrics.DicePerClass(K).update_state(np.eye(K, dtype=np.float32)[truth], probs)
    fractional = truth.astype(np.float32)
    fractional[0, 0, 0, 0] = 0.5
    metric = metrics.DicePerClass(K)
    metric.update_state(fractional, probs)
    assert np.isnan(float(metric.result()))
    with pytest.raises(ConfigError) as err:  # used to be ignored silently
        metrics.VolumeDifference(K).update_state(truth, probs, sample_weight=np.ones(3))
    assert err.value.name == "sample_weight"


@pytest.mark.parametrize(("make", "name"), [
    (lambda: metrics.DicePerClass(K, class_id=K), "class_id"),  # was an index error at result()
    (lambda: metrics.DicePerClass(0), "n_classes"),
    (lambda: metrics.VolumeDifference(K, class_id=-1), "class_id"),
    (lambda: metrics.dice_metrics(3, ["background", "lesion"]), "names"),  # dropped a class
    (lambda: metrics.volume_difference(*_masks(1), K, spacing=(-1, 1, 1)), "spacing"),
    (lambda: metrics.volume_difference(*_masks(1), K, spacing=(1, 1)), "spacing"),
    (lambda: metrics.dice_per_class(*_masks(1), 2.5), "n_classes"),
])
def test_bad_metric_arguments_are_config_errors_naming_the_argument(make, name):
    with pytest.raises(ConfigError) as err:
        make()
    assert err.value.name == name


# ----------------------------------------------------------------------------- lesion-wise detection


def _ball(shape, centre, radius):
    z, y, x = np.ogrid[tuple(slice(0, n) for n in shape)]
    return (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2 <= radius ** 2


def _lesion_maps():
    """Truth: 4 separate balls (label 4) in white matter (3); prediction: finds 2 of them (one
    only by a single voxel), merges nothing, and adds 1 false lesion. Counted by hand."""
    shape = (30, 30, 30)
    truth = np.full(shape, 3, np.uint8)
    pred = truth.copy()
    centres = [(5, 5, 5), (5, 20, 20), (20, 5, 20), (22, 22, 6)]
    for c in centres:
        truth[_ball(shape, c, 2)] = 4
    pred[_ball(shape, centres[0], 3)] = 4  # found, and larger than the truth
    pred[centres[1][0] + 2, centres[1][1], centres[1][2]] = 4  # one voxel on the ball's rim
    pred[_ball(shape, (14, 14, 14), 1)] = 4  # a false positive
    return pred, truth


def test_lesion_counts_match_a_hand_count():
    pred, truth = _lesion_maps()
    counts = metrics.lesion_counts(pred, truth, K)
    assert counts == {"true": 4, "detected": 2, "predicted": 3, "correct": 2}
    scores = metrics.detection_scores(counts)
    assert scores["recall"] == pytest.approx(2 / 4)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_lesion_counts_equal_skimage_components():
    """Against scikit-image's connected components (an independent implementation)."""
    measure = pytest.importorskip("skimage.measure")
    rng = np.random.default_rng(0)
    truth = np.where(rng.random((20, 24, 22)) < 0.08, 4, 2).astype(np.uint8)
    pred = np.where(rng.random(truth.shape) < 0.08, 4, 2).astype(np.uint8)
    for connectivity in (1, 2, 3):
        t_ids = measure.label(truth == 4, connectivity=connectivity)
        p_ids = measure.label(pred == 4, connectivity=connectivity)
        both = (truth == 4) & (pred == 4)
        expected = {"true": int(t_ids.max()), "detected": len(set(t_ids[both].tolist())),
                    "predicted": int(p_ids.max()), "correct": len(set(p_ids[both].tolist()))}
        assert metrics.lesion_counts(pred, truth, K, connectivity=connectivity) == expected


def test_diagonal_neighbours_join_a_lesion_only_with_corner_connectivity():
    truth = np.zeros((5, 5, 5), np.uint8)
    truth[1, 1, 1] = truth[2, 2, 2] = 4  # touching at a corner only
    assert metrics.lesion_counts(truth, truth, K, connectivity=3)["true"] == 1
    assert metrics.lesion_counts(truth, truth, K, connectivity=1)["true"] == 2


def test_detection_scores_pool_subjects_and_follow_the_empty_policy():
    none = np.zeros((6, 6, 6), np.uint8)
    assert metrics.detection_scores(metrics.lesion_counts(none, none, K)) == {
        "recall": 1.0, "precision": 1.0, "f1": 1.0, "true": 0, "detected": 0, "predicted": 0,
        "correct": 0}
    pred, truth = _lesion_maps()
    missed = metrics.lesion_counts(none[:1, :1, :1], np.full((1, 1, 1), 4, np.uint8), K)
    assert metrics.detection_scores(missed)["f1"] == 0.0  # one lesion, nothing predicted
    pooled = metrics.detection_scores([metrics.lesion_counts(pred, truth, K), missed])
    assert (pooled["true"], pooled["detected"]) == (5, 2)
    assert pooled["recall"] == pytest.approx(2 / 5)


@pytest.mark.parametrize("kwargs, name", [({"lesion_class": 5}, "lesion_class"),
                                          ({"connectivity": 4}, "connectivity")])
def test_bad_lesion_arguments_are_config_errors(kwargs, name):
    pred, truth = _lesion_maps()
    with pytest.raises(ConfigError) as err:
        metrics.lesion_counts(pred, truth, K, **kwargs)
    assert err.value.name == name
