"""course_utils.losses against independent numpy/sklearn computations; fit, save/load, bad labels."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.metrics import log_loss

from course_utils import losses
from course_utils.errors import ConfigError, DataError, ShapeError

K = 4


def _batch(seed=0, shape=(2, 5, 6, 7)):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, shape).astype(np.uint8)
    logits = rng.normal(0, 2, (*shape, K)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return labels, logits, probs.astype(np.float32)


def _np_ce(labels, probs, weights=None):
    p = np.take_along_axis(probs, labels[..., None].astype(int), -1)[..., 0]
    w = 1.0 if weights is None else np.asarray(weights)[labels]
    return np.mean(-w * np.log(p))


def _np_dice_loss(labels, probs, smooth=1.0):
    one_hot = np.eye(K)[labels]
    axes = tuple(range(1, labels.ndim))
    inter = (probs * one_hot).sum(axes)
    dice = (2 * inter + smooth) / (probs.sum(axes) + one_hot.sum(axes) + smooth)
    return np.mean(1 - dice.mean(-1))


def test_cross_entropy_matches_sklearn_log_loss():
    labels, logits, probs = _batch()
    ours = float(losses.WeightedCrossEntropy()(labels, probs))
    reference = log_loss(labels.ravel(), probs.reshape(-1, K), labels=list(range(K)))
    np.testing.assert_allclose(ours, reference, rtol=1e-5)
    from_logits = float(losses.WeightedCrossEntropy(from_logits=True)(labels, logits))
    np.testing.assert_allclose(from_logits, reference, rtol=1e-4)
    # labels with a trailing axis of 1 (as some pipelines give them) are accepted
    np.testing.assert_allclose(float(losses.WeightedCrossEntropy()(labels[..., None], probs)),
                               reference, rtol=1e-5)


def test_weighted_cross_entropy_matches_numpy():
    labels, _, probs = _batch(1)
    weights = [0.2, 1.0, 3.0, 10.0]
    ours = float(losses.WeightedCrossEntropy(weights)(labels, probs))
    np.testing.assert_allclose(ours, _np_ce(labels, probs, weights), rtol=1e-5)
    # sklearn's sample weights normalise by their sum; ours is a plain mean of w * CE
    sk = log_loss(labels.ravel(), probs.reshape(-1, K), sample_weight=np.take(weights, labels)
                  .ravel(), labels=list(range(K)))
    np.testing.assert_allclose(ours, sk * np.take(weights, labels).mean(), rtol=1e-5)


def test_soft_dice_matches_numpy_and_perfect_prediction_is_zero():
    labels, _, probs = _batch(2)
    np.testing.assert_allclose(float(losses.SoftDice()(labels, probs)),
                               _np_dice_loss(labels, probs), rtol=1e-5)
    np.testing.assert_allclose(float(losses.SoftDice(smooth=0.1)(labels, probs)),
                               _np_dice_loss(labels, probs, 0.1), rtol=1e-5)
    perfect = np.eye(K, dtype=np.float32)[labels]
    assert float(losses.SoftDice()(labels, perfect)) < 1e-5
    # averaged over classes: a rare class counts as much as a common one
    labels = np.zeros((1, 10, 10, 10), np.uint8)
    labels[0, :2, :2, :2] = 3  # 8 voxels of class 3
    miss_rare = np.eye(K, dtype=np.float32)[np.zeros_like(labels)]
    assert float(losses.SoftDice()(labels, miss_rare)) > 0.2  # one class of four lost
    assert float(losses.WeightedCrossEntropy()(labels, miss_rare)) < 0.2


def test_dice_cross_entropy_is_the_weighted_sum():
    labels, _, probs = _batch(3)
    combo = losses.DiceCrossEntropy(dice_weight=0.7, ce_weight=2.0, class_weights=[1, 2, 3, 4])
    expected = 0.7 * _np_dice_loss(labels, probs) + 2.0 * _np_ce(labels, probs, [1, 2, 3, 4])
    np.testing.assert_allclose(float(combo(labels, probs)), expected, rtol=1e-5)


def test_median_frequency_weights_by_hand():
    a = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # class 0: 6/8, class 1: 2/8
    b = np.array([0, 0, 2, 2, 2, 2, 2, 2])  # class 0: 2/8, class 2: 6/8
    w = losses.median_frequency_weights([a, b], 3)
    freq = np.array([8 / 16, 2 / 8, 6 / 8])  # f_c over the volumes where c occurs
    np.testing.assert_allclose(w, np.median(freq) / freq, rtol=1e-6)
    assert w[1] > 1 > w[2]  # rare up, common down
    with pytest.raises(DataError, match="never occur"):
        losses.median_frequency_weights([a, b], 4)


def test_labels_outside_class_range_raise_eagerly_and_give_nan_in_a_graph():
    import tensorflow as tf

    labels, _, probs = _batch(4)
    bad = labels.copy()
    bad[0, 0, 0, 0] = K  # one voxel with label 4 for a 4-class model
    for loss in (losses.SoftDice(), losses.WeightedCrossEntropy(), losses.DiceCrossEntropy()):
        with pytest.raises(DataError, match="outside the class range"):
            loss(bad, probs)
        graph_value = tf.function(lambda y, p, loss=loss: loss(y, p))(bad, probs)
        assert np.isnan(float(graph_value)), loss.name
        assert np.isfinite(float(tf.function(lambda y, p, loss=loss: loss(y, p))(labels, probs)))
    with pytest.raises(DataError, match="outside the class range"):
        losses.validate_labels(bad, K)
    with pytest.raises(DataError, match="outside the class range"):
        losses.validate_labels(labels.astype(np.int8) - 1, K)


ALL_LOSSES = (losses.SoftDice, losses.WeightedCrossEntropy, losses.DiceCrossEntropy)


def test_non_integer_labels_raise_eagerly_and_give_nan_in_a_graph():
    """A cast used to turn label 1.7 into 1 silently."""
    import tensorflow as tf

    labels, _, probs = _batch(5)
    fractional = labels.astype(np.float32)
    fractional[0, 0, 0, 0] = 1.7
    with_nan = labels.astype(np.float32)
    with_nan[1, 1, 1, 1] = np.nan
    for loss in (cls() for cls in ALL_LOSSES):
        for bad in (fractional, with_nan):
            with pytest.raises(DataError, match="whole numbers"):
                loss(bad, probs)
            assert np.isnan(float(tf.function(lambda y, p, loss=loss: loss(y, p))(bad, probs)))
        # whole numbers stored as float (as Keras passes labels) are fine
        np.testing.assert_allclose(float(loss(labels.astype(np.float32), probs)),
                                   float(loss(labels, probs)), rtol=1e-6)


def test_one_hot_or_mismatched_targets_are_shape_errors():
    labels, _, probs = _batch(6)
    for loss in (cls() for cls in ALL_LOSSES):
        with pytest.raises(ShapeError, match="one-hot"):  # was a raw squeeze error
            loss(np.eye(K, dtype=np.float32)[labels], probs)
        with pytest.raises(ShapeError, match="do not match"):
            loss(labels[:, :4], probs)


def test_bad_loss_arguments_are_config_errors_naming_the_argument():
    labels, _, probs = _batch(7)
    with pytest.raises(ConfigError) as err:  # was a raw broadcasting error in DiceCrossEntropy
        losses.DiceCrossEntropy(class_weights=[1, 2])(labels, probs)
    assert err.value.name == "class_weights"
    with pytest.raises(ConfigError) as err:
        losses.WeightedCrossEntropy([1, 2, 3])(labels, probs)
    assert err.value.name == "class_weights"
    for make, name in ((lambda: losses.WeightedCrossEntropy([1, -2, 1, 1]), "class_weights"),
                       (lambda: losses.WeightedCrossEntropy([0, 0, 0, 0]), "class_weights"),
                       (lambda: losses.WeightedCrossEntropy([1, np.nan, 1, 1]), "class_weights"),
                       (lambda: losses.SoftDice(smooth=0), "smooth"),
                       (lambda: losses.SoftDice(from_logits="yes"), "from_logits"),
                       (lambda: losses.DiceCrossEntropy(ce_weight=-1), "ce_weight"),
                       (lambda: losses.median_frequency_weights([labels], 0), "n_classes")):
        with pytest.raises(ConfigError) as err:
            make()
        assert err.value.name == name


def test_empty_classes_and_nan_predictions():
    labels = np.zeros((1, 4, 4, 4), np.uint8)  # classes 1..3 absent from the truth
    perfect = np.eye(K, dtype=np.float32)[labels]
    assert float(losses.SoftDice()(labels, perfect)) < 1e-5  # absent and not predicted: Dice 1
    broken = perfect.copy()
    broken[0, 0, 0, 0] = np.nan
    for loss in (cls() for cls in ALL_LOSSES):
        assert np.isnan(float(loss(labels, broken))), loss.name  # never a finite number


def _tiny_model():
    inputs = keras.Input((8, 8, 8, 1))
    x = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv3D(K, 1, activation="softmax")(x))


@pytest.mark.parametrize("loss", [losses.WeightedCrossEntropy([1, 2, 3, 4]), losses.SoftDice(),
                                  losses.DiceCrossEntropy()])
def test_fit_and_save_load_round_trip(loss, tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 8, 1)).astype(np.float32)
    y = (x[..., 0] > 0).astype(np.uint8) + 2 * (x[..., 0] > 1).astype(np.uint8)
    model = _tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.loss) is type(loss) and loaded.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(float(loaded.loss(y, model.predict(x, verbose=0))),
                               float(loss(y, model.predict(x, verbose=0))), rtol=1e-6)
    assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()


def test_exercise_check_median_frequency():
    from course_utils import exercises

    labels = [np.array([0, 0, 0, 1, 2, 2]), np.array([0, 0, 1, 1, 1, 1])]
    assert exercises.check_median_frequency(losses.median_frequency_weights(labels, 3), labels, 3)
    assert not exercises.check_median_frequency(np.ones(3), labels, 3)


def _np_dice_terms(labels, probs, smooth, axes):
    one_hot = np.eye(K)[labels]
    inter = (probs * one_hot).sum(axes)
    return (2 * inter + smooth) / (probs.sum(axes) + one_hot.sum(axes) + smooth)


def test_per_batch_soft_dice_pools_the_sums_over_the_batch():
    labels, _, probs = _batch(3)
    pooled = 1 - _np_dice_terms(labels, probs, 1.0, (0, 1, 2, 3)).mean()
    ours = float(losses.SoftDice(per_sample=False)(labels, probs))
    assert ours == pytest.approx(pooled, rel=1e-5)
    assert ours != pytest.approx(_np_dice_loss(labels, probs), rel=1e-3)  # not the per-sample mean
    direct = losses.soft_dice_loss(probs, np.eye(K, dtype=np.float32)[labels], per_sample=False)
    assert tuple(direct.shape) == () and float(direct) == pytest.approx(pooled, rel=1e-5)
    restored = losses.SoftDice.from_config(losses.SoftDice(per_sample=False).get_config())
    assert restored.per_sample is False


def test_the_smoothing_term_decides_what_an_empty_class_scores():
    """A patch without class K-1, predicted right with confidence: s = 1 scores the absent class
    as agreement, a tiny s as the worst disagreement (the lesson's measurement)."""
    labels = np.random.default_rng(4).integers(0, K - 1, (1, 8, 8, 8))  # class K-1 absent
    probs = np.where(np.eye(K, dtype=bool)[labels], 0.9999, 0.0001 / (K - 1)).astype(np.float32)
    absent_p = probs[..., K - 1].sum()
    assert absent_p < 1
    large = float(losses.SoftDice(smooth=1.0)(labels, probs))
    tiny = float(losses.SoftDice(smooth=1e-5)(labels, probs))
    assert large == pytest.approx((1 - 1 / (absent_p + 1)) / K, abs=1e-3)
    assert tiny == pytest.approx(1 / K, abs=2e-3)  # the absent class's term is ~1 of K
    assert tiny > 10 * large


def test_taught_cross_entropy_weights_each_voxel_by_its_true_class():
    labels, _, probs = _batch(5)
    weights = [0.5, 1.0, 2.0, 4.0]
    ce = keras.ops.convert_to_numpy(
        losses.cross_entropy(probs, np.eye(K, dtype=np.float32)[labels], weights))
    expected = -np.asarray(weights)[labels] * np.log(
        np.take_along_axis(probs, labels[..., None].astype(int), -1)[..., 0])
    np.testing.assert_allclose(ce, expected, rtol=1e-5)
