"""Segmentation losses for class imbalance (lesson 05), written with ``keras.ops`` only.

Every loss takes ``y_true`` = integer labels ``[batch, z, y, x]`` (or with a
trailing axis of 1) and ``y_pred`` = class probabilities ``[batch, z, y, x, K]``
(the softmax output; ``from_logits=True`` for raw scores). They are Keras 3
``Loss`` subclasses, so they work with ``model.compile(loss=...)`` /
``model.fit`` on any backend and are saved/loaded with the model
(``get_config`` + registration under the ``course_utils`` package).

**Labels outside 0..K-1 (or not whole numbers).** ``one_hot`` would turn them
into all-zero rows (a cast would round 1.7 to 1) and the loss would be silently
wrong. Two guards:

1. :func:`validate_labels` (numpy, before training) raises a DataError naming
   the values; pipelines and samplers call it on every label volume.
2. Inside the loss, each call checks ``0 <= y_true < K``. When the check can be
   read eagerly (eager execution) a DataError is raised; inside a compiled
   graph (``model.fit``) an error cannot be raised portably, so the loss
   becomes **NaN** for that batch: training then shows ``loss: nan`` (and
   ``keras.callbacks.TerminateOnNaN`` stops it) instead of learning from
   wrong targets.

Shapes are checked when the loss is traced: one-hot targets, or targets whose
spatial shape differs from the prediction's, raise ShapeError; class weights
of the wrong length raise ConfigError. NaN predictions give a NaN loss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras
import numpy as np
from keras import ops

from course_utils import checks
from course_utils.errors import ConfigError, DataError, ShapeError
from course_utils.preprocessing import check_label_map

_EPS = 1e-7


def validate_labels(labels: np.ndarray, n_classes: int, name: str = "labels") -> np.ndarray:
    """Numpy check before training: integer labels in ``0..n_classes-1`` (else DataError).

    Parameters: ``labels`` a label map of any shape; ``n_classes`` the model's number of
    classes; ``name`` what to call the labels in the error message.
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    return check_label_map(labels, n_classes=n_classes, name=name)


def median_frequency_weights(
    labels: np.ndarray | Iterable[np.ndarray], n_classes: int
) -> np.ndarray:
    """Median-frequency class weights (Eigen & Fergus, 2015): ``median(f) / f_c``.

    Parameters: ``labels`` one label volume or several (a list, or an array whose first
    axis lists volumes); ``n_classes`` the number of classes.
    ``f_c`` = voxels of class c / voxels of the volumes in which c occurs. Rare
    classes get weights above 1, common ones below. A class that occurs in no
    volume raises DataError (its weight would be infinite).
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    if isinstance(labels, np.ndarray) and labels.ndim <= 3:
        labels = [labels]
    class_voxels = np.zeros(n_classes, dtype=np.float64)
    present_voxels = np.zeros(n_classes, dtype=np.float64)
    for lab in labels:
        lab = validate_labels(lab, n_classes)
        counts = np.bincount(lab.ravel(), minlength=n_classes)[:n_classes]
        class_voxels += counts
        present_voxels += np.where(counts > 0, lab.size, 0)
    if np.any(class_voxels == 0):
        missing = np.flatnonzero(class_voxels == 0).tolist()
        raise DataError(
            f"class(es) {missing} never occur in the label volumes given, so their median-frequency "
            "weight is undefined; check n_classes or use more volumes"
        )
    freq = class_voxels / present_voxels
    return (np.median(freq) / freq).astype(np.float32)


# -----------------------------------------------------------------------------
# shared helpers (keras.ops only)
# -----------------------------------------------------------------------------


def _class_weights(value) -> list[float] | None:
    """None, or finite non-negative weights, one per class, not all zero (else ConfigError)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(f"class_weights must be a list of numbers, one per class, got {value!r}",
                          name="class_weights")
    weights = [checks.number(w, "class_weights", minimum=0.0) for w in value]
    if not any(weights):
        raise ConfigError("class_weights are all zero: the loss would always be 0",
                          name="class_weights")
    return weights


def labels_like(y_true, y_pred):
    """Tensor ``y_true`` as labels [b, z, y, x] that match tensor ``y_pred`` [b, z, y, x, K].

    A trailing axis of 1 is squeezed; one-hot targets or another spatial shape raise
    ShapeError (when traced). Shared with :mod:`course_utils.metrics`.
    """
    n_classes = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape):
        if y_true.shape[-1] != 1:
            raise ShapeError(
                f"targets of shape {tuple(y_true.shape)} for predictions of shape "
                f"{tuple(y_pred.shape)}: the losses take integer labels [batch, z, y, x]; if "
                f"these are one-hot, pass their argmax over the last axis ({n_classes} classes)")
        y_true = ops.squeeze(y_true, axis=-1)
    spatial_true, spatial_pred = tuple(y_true.shape[1:]), tuple(y_pred.shape[1:-1])
    if len(spatial_true) != len(spatial_pred) or any(
            a is not None and b is not None and a != b
            for a, b in zip(spatial_true, spatial_pred, strict=True)):
        raise ShapeError(f"targets of shape {tuple(y_true.shape)} do not match predictions of "
                         f"shape {tuple(y_pred.shape)} (labels [batch, z, y, x], "
                         "probabilities [batch, z, y, x, classes])")
    return y_true


def invalid_labels(y_true, n_classes: int):
    """A boolean tensor: some label of tensor ``y_true`` is outside 0..``n_classes``-1 or is
    not a whole number (or NaN)."""
    invalid = ops.any(ops.logical_or(y_true < 0, y_true >= n_classes))
    if "float" in keras.backend.standardize_dtype(y_true.dtype):  # Keras passes labels as floats
        invalid = ops.logical_or(invalid, ops.any(ops.not_equal(y_true, ops.floor(y_true))))
    return invalid


def _prepare(y_true, y_pred, from_logits: bool):
    """Return (labels int32 [b, ...], probabilities [b, ..., K], one-hot [b, ..., K], nan_guard)."""
    y_pred = ops.convert_to_tensor(y_pred)
    n_classes = y_pred.shape[-1]
    if n_classes is None:
        raise ShapeError("the model output needs a known number of classes (last axis)")
    y_true = labels_like(ops.convert_to_tensor(y_true), y_pred)
    invalid = invalid_labels(y_true, n_classes)
    _raise_if_eager(invalid, n_classes)
    labels = ops.cast(y_true, "int32")
    probs = ops.softmax(y_pred, axis=-1) if from_logits else y_pred
    probs = ops.clip(ops.cast(probs, "float32"), _EPS, 1.0 - _EPS)
    one_hot = ops.one_hot(ops.clip(labels, 0, n_classes - 1), n_classes, dtype="float32")
    nan_guard = ops.where(invalid, float("nan"), 0.0)
    return labels, probs, one_hot, nan_guard


def _raise_if_eager(invalid, n_classes: int) -> None:
    """Raise DataError if the invalid-label flag can be read now (eager); in a graph, do nothing."""
    try:
        bad = bool(ops.convert_to_numpy(invalid))
    except Exception:  # symbolic tensor inside a compiled function: the NaN guard takes over
        return
    if bad:
        raise DataError(
            f"labels outside the class range 0..{n_classes - 1} (or not whole numbers) reached "
            "the loss; check the label maps with losses.validate_labels(labels, n_classes) or "
            "the model's output size"
        )


def _spatial_axes(one_hot) -> list[int]:
    return list(range(1, len(one_hot.shape) - 1))


def _check_weights(class_weights, n_classes) -> None:
    """ConfigError unless there is one class weight per output class (or none)."""
    if class_weights is not None and len(class_weights) != n_classes:
        raise ConfigError(f"{len(class_weights)} class weights for a model with {n_classes} "
                          "output classes; give one weight per class", name="class_weights")


def cross_entropy(probs, one_hot, class_weights=None):
    """Cross-entropy of each voxel, -log p(true class), times the true class's weight if given.

    Parameters: ``probs``: the softmax output [b, z, y, x, K], kept away from 0;
    ``one_hot``: the one-hot truth, same shape; ``class_weights``: K weights, or None.
    """
    ce = -ops.sum(one_hot * ops.log(probs), axis=-1)
    if class_weights is not None:
        weights = ops.convert_to_tensor(np.asarray(class_weights, dtype=np.float32))
        ce = ce * ops.sum(one_hot * weights, axis=-1)  # the weight of each voxel's true class
    return ce


def soft_dice_loss(probs, one_hot, smooth=1.0, per_sample=True):
    """1 - the mean over classes of (2 sum(p g) + smooth) / (sum(p) + sum(g) + smooth).

    Parameters: ``probs``: the softmax output [b, z, y, x, K]; ``one_hot``: the one-hot
    truth, same shape; ``smooth`` > 0: makes a class absent from truth and prediction
    count as a match (Dice 1) instead of 0/0; ``per_sample``: sum over each sample's
    voxels (one loss per sample) or over the whole batch (one loss).
    """
    axes = list(range(1 if per_sample else 0, len(one_hot.shape) - 1))
    intersection = ops.sum(probs * one_hot, axis=axes)
    sizes = ops.sum(probs, axis=axes) + ops.sum(one_hot, axis=axes)
    dice = (2.0 * intersection + smooth) / (sizes + smooth)  # one per (sample and) class
    return 1.0 - ops.mean(dice, axis=-1)


# -----------------------------------------------------------------------------
# losses
# -----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course_utils")
class WeightedCrossEntropy(keras.losses.Loss):
    """Voxel-wise cross-entropy, optionally re-weighted per class (e.g. median-frequency).

    With ``class_weights=None`` this is plain categorical cross-entropy. The
    result is the mean over voxels of ``w[true class] * CE``.

    Parameters: ``class_weights`` one non-negative weight per class, or None;
    ``from_logits`` True if the model outputs raw scores instead of probabilities;
    ``name`` and ``kwargs`` as for ``keras.losses.Loss``.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, from_logits: bool = False,
                 name: str = "weighted_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = _class_weights(class_weights)
        self.from_logits = checks.boolean(from_logits, "from_logits")

    def call(self, y_true, y_pred):
        """Per-voxel loss of labels ``y_true`` [b, z, y, x] and ``y_pred`` [b, z, y, x, K];
        Keras averages it."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        _check_weights(self.class_weights, one_hot.shape[-1])
        return cross_entropy(probs, one_hot, self.class_weights) + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "class_weights": self.class_weights,
                "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="course_utils")
class SoftDice(keras.losses.Loss):
    """Soft (smooth) Dice loss averaged over classes: every class counts equally, however rare.

    Per sample: ``1 - mean_c (2 sum(p_c g_c) + smooth) / (sum(p_c) + sum(g_c) + smooth)``,
    sums over the patch's voxels.

    Parameters: ``smooth`` > 0 keeps a class absent from both prediction and truth near
    Dice 1 and the gradient finite; ``per_sample`` True: one Dice per patch (the default),
    False: one Dice over the whole batch (:func:`soft_dice_loss`); ``from_logits`` True
    for raw scores; ``name`` and ``kwargs`` as for ``keras.losses.Loss``.
    """

    def __init__(self, smooth: float = 1.0, per_sample: bool = True, from_logits: bool = False,
                 name: str = "soft_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = checks.number(smooth, "smooth", minimum=0.0, open_min=True)
        self.per_sample = checks.boolean(per_sample, "per_sample")
        self.from_logits = checks.boolean(from_logits, "from_logits")

    def call(self, y_true, y_pred):
        """One loss value per sample of labels ``y_true`` and probabilities ``y_pred``."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        return soft_dice_loss(probs, one_hot, self.smooth, self.per_sample) + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "smooth": self.smooth, "per_sample": self.per_sample,
                "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="course_utils")
class DiceCrossEntropy(keras.losses.Loss):
    """``dice_weight * SoftDice + ce_weight * (weighted) cross-entropy``, per sample.

    Parameters: ``dice_weight``, ``ce_weight`` non-negative factors of the two terms;
    ``class_weights``, ``smooth``, ``from_logits`` as in :class:`WeightedCrossEntropy` and
    :class:`SoftDice`; ``name`` and ``kwargs`` as for ``keras.losses.Loss``.
    """

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 class_weights: Sequence[float] | None = None, smooth: float = 1.0,
                 from_logits: bool = False, name: str = "dice_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight = checks.number(dice_weight, "dice_weight", minimum=0.0)
        self.ce_weight = checks.number(ce_weight, "ce_weight", minimum=0.0)
        self.class_weights = _class_weights(class_weights)
        self.smooth = checks.number(smooth, "smooth", minimum=0.0, open_min=True)
        self.from_logits = checks.boolean(from_logits, "from_logits")

    def call(self, y_true, y_pred):
        """One loss value per sample of labels ``y_true`` and probabilities ``y_pred``."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        _check_weights(self.class_weights, one_hot.shape[-1])
        ce = ops.mean(cross_entropy(probs, one_hot, self.class_weights),
                      axis=_spatial_axes(one_hot))
        dice = soft_dice_loss(probs, one_hot, self.smooth)
        return self.dice_weight * dice + self.ce_weight * ce + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "dice_weight": self.dice_weight,
                "ce_weight": self.ce_weight, "class_weights": self.class_weights,
                "smooth": self.smooth, "from_logits": self.from_logits}
