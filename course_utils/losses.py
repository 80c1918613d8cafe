"""Segmentation losses for class imbalance (lesson 05), written with ``keras.ops`` only.

Every loss takes ``y_true`` = integer labels ``[batch, z, y, x]`` (or with a
trailing axis of 1) and ``y_pred`` = class probabilities ``[batch, z, y, x, K]``
(the softmax output; ``from_logits=True`` for raw scores). They are Keras 3
``Loss`` subclasses, so they work with ``model.compile(loss=...)`` /
``model.fit`` on any backend and are saved/loaded with the model
(``get_config`` + registration under the ``course_utils`` package).

**Labels outside 0..K-1.** ``one_hot`` would turn them into all-zero rows and
the loss would be silently wrong. Two guards:

1. :func:`validate_labels` (numpy, before training) raises a DataError naming
   the values; pipelines and samplers call it on every label volume.
2. Inside the loss, each call checks ``0 <= y_true < K``. When the check can be
   read eagerly (eager execution) a DataError is raised; inside a compiled
   graph (``model.fit``) an error cannot be raised portably, so the loss
   becomes **NaN** for that batch: training then shows ``loss: nan`` (and
   ``keras.callbacks.TerminateOnNaN`` stops it) instead of learning from
   wrong targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras
import numpy as np
from keras import ops

from course_utils.errors import DataError
from course_utils.preprocessing import check_label_map

_EPS = 1e-7


def validate_labels(labels: np.ndarray, n_classes: int, name: str = "labels") -> np.ndarray:
    """Numpy check before training: integer labels in ``0..n_classes-1`` (else DataError)."""
    return check_label_map(labels, n_classes=n_classes, name=name)


def median_frequency_weights(
    labels: np.ndarray | Iterable[np.ndarray], n_classes: int
) -> np.ndarray:
    """Median-frequency class weights (Eigen & Fergus, 2015): ``median(f) / f_c``.

    ``f_c`` = voxels of class c / voxels of the volumes in which c occurs. Rare
    classes get weights above 1, common ones below. A class that occurs in no
    volume raises DataError (its weight would be infinite).
    """
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


def _prepare(y_true, y_pred, from_logits: bool):
    """Return (labels int32 [b, ...], probabilities [b, ..., K], one-hot [b, ..., K], nan_guard)."""
    y_pred = ops.convert_to_tensor(y_pred)
    n_classes = y_pred.shape[-1]
    if n_classes is None:
        raise DataError("the model output needs a known number of classes (last axis)")
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    labels = ops.cast(y_true, "int32")
    invalid = ops.any(ops.logical_or(labels < 0, labels >= n_classes))
    _raise_if_eager(invalid, n_classes)
    probs = ops.softmax(y_pred, axis=-1) if from_logits else y_pred
    probs = ops.clip(ops.cast(probs, "float32"), _EPS, 1.0 - _EPS)
    one_hot = ops.one_hot(ops.clip(labels, 0, n_classes - 1), n_classes, dtype="float32")
    nan_guard = ops.where(invalid, float("nan"), 0.0)
    return labels, probs, one_hot, nan_guard


def _raise_if_eager(invalid, n_classes: int) -> None:
    """Raise DataError if the out-of-range flag can be read now (eager); in a graph, do nothing."""
    try:
        bad = bool(ops.convert_to_numpy(invalid))
    except Exception:  # symbolic tensor inside a compiled function: the NaN guard takes over
        return
    if bad:
        raise DataError(
            f"labels outside the class range 0..{n_classes - 1} reached the loss; check the "
            "label maps with losses.validate_labels(labels, n_classes) or the model's output size"
        )


def _spatial_axes(one_hot) -> list[int]:
    return list(range(1, len(one_hot.shape) - 1))


def _cross_entropy(probs, one_hot, class_weights):
    """Per-voxel (optionally class-weighted) cross-entropy, [b, z, y, x]."""
    ce = -ops.sum(one_hot * ops.log(probs), axis=-1)
    if class_weights is not None:
        w = ops.convert_to_tensor(np.asarray(class_weights, dtype=np.float32))
        ce = ce * ops.sum(one_hot * w, axis=-1)
    return ce


def _soft_dice_per_sample(probs, one_hot, smooth: float):
    """1 - mean over classes of (2|P.G| + s) / (|P| + |G| + s), one value per sample."""
    axes = _spatial_axes(one_hot)
    intersection = ops.sum(probs * one_hot, axis=axes)
    sizes = ops.sum(probs, axis=axes) + ops.sum(one_hot, axis=axes)
    dice = (2.0 * intersection + smooth) / (sizes + smooth)
    return 1.0 - ops.mean(dice, axis=-1)


# -----------------------------------------------------------------------------
# losses
# -----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="course_utils")
class WeightedCrossEntropy(keras.losses.Loss):
    """Voxel-wise cross-entropy, optionally re-weighted per class (e.g. median-frequency).

    With ``class_weights=None`` this is plain categorical cross-entropy. The
    result is the mean over voxels of ``w[true class] * CE``.
    """

    def __init__(self, class_weights: Sequence[float] | None = None, from_logits: bool = False,
                 name: str = "weighted_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        """Per-voxel loss; Keras averages it over the batch."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        if self.class_weights is not None and len(self.class_weights) != one_hot.shape[-1]:
            raise DataError(f"{len(self.class_weights)} class weights for a model with "
                            f"{one_hot.shape[-1]} output classes")
        return _cross_entropy(probs, one_hot, self.class_weights) + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "class_weights": self.class_weights,
                "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="course_utils")
class SoftDice(keras.losses.Loss):
    """Soft (smooth) Dice loss averaged over classes: every class counts equally, however rare.

    Per sample: ``1 - mean_c (2 sum(p_c g_c) + smooth) / (sum(p_c) + sum(g_c) + smooth)``,
    sums over the patch's voxels. ``smooth`` keeps a class absent from both
    prediction and truth near Dice 1 and the gradient finite.
    """

    def __init__(self, smooth: float = 1.0, from_logits: bool = False, name: str = "soft_dice",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.smooth = float(smooth)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        """One loss value per sample."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        return _soft_dice_per_sample(probs, one_hot, self.smooth) + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "smooth": self.smooth, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="course_utils")
class DiceCrossEntropy(keras.losses.Loss):
    """``dice_weight * SoftDice + ce_weight * (weighted) cross-entropy``, per sample."""

    def __init__(self, dice_weight: float = 1.0, ce_weight: float = 1.0,
                 class_weights: Sequence[float] | None = None, smooth: float = 1.0,
                 from_logits: bool = False, name: str = "dice_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dice_weight = float(dice_weight)
        self.ce_weight = float(ce_weight)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.smooth = float(smooth)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        """One loss value per sample."""
        _, probs, one_hot, guard = _prepare(y_true, y_pred, self.from_logits)
        ce = ops.mean(_cross_entropy(probs, one_hot, self.class_weights),
                      axis=_spatial_axes(one_hot))
        dice = _soft_dice_per_sample(probs, one_hot, self.smooth)
        return self.dice_weight * dice + self.ce_weight * ce + guard

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "dice_weight": self.dice_weight,
                "ce_weight": self.ce_weight, "class_weights": self.class_weights,
                "smooth": self.smooth, "from_logits": self.from_logits}
