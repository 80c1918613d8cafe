"""Segmentation metrics (lesson 05): per-class Dice and absolute volume difference.

As numpy functions (for evaluating whole predicted volumes) and as Keras
metrics (accumulated over batches during ``model.fit``/``evaluate``).

``pred`` may be a label map ``[..., z, y, x]`` or class probabilities with a
trailing class axis of length ``n_classes`` (then the arg-max is taken).

**Empty-class policy (the same everywhere in the course):** a class absent
from BOTH prediction and truth has Dice **1.0** (the segmentation agrees
perfectly that it is not there), so results are never NaN and a mean over
classes is always defined. A class absent from the truth but predicted has
Dice 0. Report the voxel count next to the Dice of rare classes: Dice 1.0 on
an empty class says nothing about lesion detection.

Labels outside ``0..n_classes-1``: the numpy functions raise DataError; the
Keras metrics turn NaN (they cannot raise inside a compiled step).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from course_utils.errors import ShapeError
from course_utils.preprocessing import check_label_map


def _as_labels(pred: np.ndarray, truth: np.ndarray, n_classes: int):
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.ndim == truth.ndim + 1 and pred.shape[-1] == n_classes:
        pred = np.argmax(pred, axis=-1)
    if pred.shape != truth.shape:
        raise ShapeError(
            f"prediction shape {pred.shape} does not match truth shape {truth.shape}; pass label "
            f"maps of the same shape (or probabilities with a last axis of {n_classes})"
        )
    pred = check_label_map(pred, n_classes, name="prediction")
    truth = check_label_map(truth, n_classes, name="truth")
    return pred, truth


def confusion_counts(pred: np.ndarray, truth: np.ndarray, n_classes: int):
    """Per class: (|pred AND truth|, |pred|, |truth|) voxel counts."""
    pred, truth = _as_labels(pred, truth, n_classes)
    p = np.bincount(pred.ravel(), minlength=n_classes)[:n_classes]
    t = np.bincount(truth.ravel(), minlength=n_classes)[:n_classes]
    both = np.bincount(truth.ravel()[pred.ravel() == truth.ravel()], minlength=n_classes)
    return both[:n_classes], p, t


def dice_from_counts(intersection, pred_size, truth_size) -> np.ndarray:
    """Dice = 2|P.T| / (|P| + |T|), and 1.0 where both are empty (the course's policy)."""
    intersection = np.asarray(intersection, dtype=np.float64)
    total = np.asarray(pred_size, dtype=np.float64) + np.asarray(truth_size, dtype=np.float64)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, 2.0 * intersection / safe, 1.0)


def dice_per_class(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Dice of each class 0..n_classes-1 (NaN-free: 1.0 for a class empty in both)."""
    return dice_from_counts(*confusion_counts(pred, truth, n_classes))


def volume_difference(
    pred: np.ndarray, truth: np.ndarray, n_classes: int,
    spacing: Sequence[float] | None = None, relative: bool = False,
) -> np.ndarray:
    """Absolute volume difference ``|V_pred - V_truth|`` per class.

    In voxels, or in millilitres when ``spacing`` (mm per voxel) is given.
    ``relative=True``: in percent of the true volume (as in MRBrainS13); a
    class empty in both gives 0 %, one predicted but absent from the truth gives inf.
    """
    _, p, t = confusion_counts(pred, truth, n_classes)
    diff = np.abs(p.astype(np.float64) - t)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, 100.0 * diff / np.maximum(t, 1), np.where(diff > 0, np.inf, 0.0))
    if spacing is not None:
        diff = diff * float(np.prod(spacing)) / 1000.0
    return diff


# -----------------------------------------------------------------------------
# Keras metrics (keras.ops only)
# -----------------------------------------------------------------------------


def _label_pair(y_true, y_pred, n_classes: int):
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape):
        y_true = ops.squeeze(y_true, axis=-1)
    pred = ops.argmax(y_pred, axis=-1)
    labels = ops.cast(y_true, "int32")
    true_oh = ops.one_hot(labels, n_classes, dtype="float32")
    pred_oh = ops.one_hot(ops.cast(pred, "int32"), n_classes, dtype="float32")
    # labels outside 0..n_classes-1 would become all-zero rows and be silently ignored:
    # poison the accumulated counts with NaN instead (same policy as course_utils.losses)
    invalid = ops.any(ops.logical_or(labels < 0, labels >= n_classes))
    true_oh = true_oh + ops.where(invalid, float("nan"), 0.0)
    return true_oh, pred_oh


@keras.saving.register_keras_serializable(package="course_utils")
class DicePerClass(keras.metrics.Metric):
    """Dice accumulated over all batches (global counts), per class.

    ``result()`` is the Dice of ``class_id``, or the mean over classes when
    ``class_id`` is None; :meth:`per_class` gives the vector. Empty class in
    both prediction and truth: 1.0 (module policy).
    """

    def __init__(self, n_classes: int, class_id: int | None = None,
                 name: str | None = None, **kwargs):
        if name is None:
            name = "dice" if class_id is None else f"dice_{class_id}"
        super().__init__(name=name, **kwargs)
        self.n_classes = int(n_classes)
        self.class_id = None if class_id is None else int(class_id)
        shape = (self.n_classes,)
        self.intersection = self.add_variable(shape=shape, initializer="zeros",
                                              name="intersection")
        self.pred_size = self.add_variable(shape=shape, initializer="zeros", name="pred_size")
        self.true_size = self.add_variable(shape=shape, initializer="zeros", name="true_size")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add this batch's per-class counts (sample_weight is not supported)."""
        true_oh, pred_oh = _label_pair(y_true, y_pred, self.n_classes)
        axes = list(range(len(true_oh.shape) - 1))
        self.intersection.assign_add(ops.sum(true_oh * pred_oh, axis=axes))
        self.pred_size.assign_add(ops.sum(pred_oh, axis=axes))
        self.true_size.assign_add(ops.sum(true_oh, axis=axes))

    def per_class(self):
        """Dice of every class so far (a vector of n_classes)."""
        total = self.pred_size + self.true_size
        empty = ops.equal(total, 0.0)  # NaN (labels out of range) is not empty: stays NaN
        return ops.where(empty, 1.0, 2.0 * self.intersection / ops.where(empty, 1.0, total))

    def result(self):
        """Dice of ``class_id``, or the mean over classes."""
        dice = self.per_class()
        return ops.mean(dice) if self.class_id is None else dice[self.class_id]

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "n_classes": self.n_classes,
                "class_id": self.class_id}

@keras.saving.register_keras_serializable(package="course_utils")
class VolumeDifference(keras.metrics.Metric):
    """Mean absolute volume difference per sample, in voxels (of ``class_id`` or averaged)."""

    def __init__(self, n_classes: int, class_id: int | None = None,
                 name: str | None = None, **kwargs):
        if name is None:
            name = "avd" if class_id is None else f"avd_{class_id}"
        super().__init__(name=name, **kwargs)
        self.n_classes = int(n_classes)
        self.class_id = None if class_id is None else int(class_id)
        self.total = self.add_variable(shape=(self.n_classes,), initializer="zeros",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add |V_pred - V_true| of each sample in the batch."""
        true_oh, pred_oh = _label_pair(y_true, y_pred, self.n_classes)
        axes = list(range(1, len(true_oh.shape) - 1))
        diff = ops.abs(ops.sum(pred_oh, axis=axes) - ops.sum(true_oh, axis=axes))
        self.total.assign_add(ops.sum(diff, axis=0))
        self.count.assign_add(ops.cast(ops.shape(diff)[0], "float32"))

    def per_class(self):
        """Mean absolute volume difference of every class so far (voxels)."""
        return self.total / ops.maximum(self.count, 1.0)

    def result(self):
        """Of ``class_id``, or the mean over classes."""
        values = self.per_class()
        return ops.mean(values) if self.class_id is None else values[self.class_id]

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "n_classes": self.n_classes,
                "class_id": self.class_id}


def dice_metrics(n_classes: int, names: Sequence[str] | None = None) -> list:
    """One DicePerClass metric per class for ``model.compile(metrics=...)``, named ``dice_<name>``."""
    names = names or [str(c) for c in range(n_classes)]
    return [DicePerClass(n_classes, class_id=c, name=f"dice_{str(n).replace(' ', '_')}")
            for c, n in enumerate(names)]
