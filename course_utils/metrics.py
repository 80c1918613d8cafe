"""Segmentation metrics (lessons 05, 06): per-class Dice, volume difference, lesion-wise detection.

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

**Lesion-wise detection** (lesson 06): Dice counts voxels, so one large lesion
outweighs ten small ones. :func:`lesion_counts` counts lesions instead: the
connected components (26-connected, ``scipy.ndimage.label``) of the truth and of
the prediction. **Overlap rule:** a true lesion is *detected* if at least one of
its voxels is predicted as lesion; a predicted lesion is *correct* if at least
one of its voxels is a true lesion (the rule of the MICCAI 2017 WMH challenge).
:func:`detection_scores` turns counts (of one or several subjects, pooled) into
recall, precision and F1, with the empty policy above: no lesion in truth nor
prediction gives 1.0.

Labels outside ``0..n_classes-1`` (or not whole numbers) and non-finite
predictions: the numpy functions raise DataError; the Keras metrics turn NaN
(they cannot raise inside a compiled step). One-hot targets, mismatched shapes
and sample weights (which these counts cannot honour) are refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops
from scipy import ndimage

from course_utils import checks
from course_utils.errors import ConfigError, DataError, ShapeError
from course_utils.losses import invalid_labels, labels_like
from course_utils.preprocessing import check_label_map


def label_maps(pred: np.ndarray, truth: np.ndarray, n_classes: int):
    """(pred, truth) as integer label maps of one shape in 0..n_classes-1 (else an error).

    Parameters: ``pred`` a label map, or class probabilities with one more (last) axis of
    ``n_classes`` (arg-maxed); ``truth`` the label map; ``n_classes`` the number of classes.
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.ndim == truth.ndim + 1 and pred.shape[-1] == n_classes:
        if not np.all(np.isfinite(pred)):  # argmax would silently pick the first NaN's class
            raise DataError(f"the predicted probabilities (shape {pred.shape}) hold NaN or "
                            "infinite values; check the model (did training diverge?)")
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
    """Per class: (|pred AND truth|, |pred|, |truth|) voxel counts.

    Parameters: ``pred`` a label map, or probabilities with a last axis of ``n_classes``;
    ``truth`` the true label map; ``n_classes`` the number of classes.
    """
    pred, truth = label_maps(pred, truth, n_classes)
    p = np.bincount(pred.ravel(), minlength=n_classes)[:n_classes]
    t = np.bincount(truth.ravel(), minlength=n_classes)[:n_classes]
    both = np.bincount(truth.ravel()[pred.ravel() == truth.ravel()], minlength=n_classes)
    return both[:n_classes], p, t


def dice_from_counts(intersection, pred_size, truth_size) -> np.ndarray:
    """Dice = 2|P.T| / (|P| + |T|), and 1.0 where both are empty (the course's policy).

    Parameters: per-class voxel counts ``intersection`` |P.T|, ``pred_size`` |P| and
    ``truth_size`` |T| (as returned by :func:`confusion_counts`).
    """
    intersection = np.asarray(intersection, dtype=np.float64)
    total = np.asarray(pred_size, dtype=np.float64) + np.asarray(truth_size, dtype=np.float64)
    safe = np.where(total > 0, total, 1.0)
    return np.where(total > 0, 2.0 * intersection / safe, 1.0)


def dice_per_class(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Dice 2|P ∩ T| / (|P| + |T|) of each class 0..n_classes-1; 1.0 for a class in neither map.

    Parameters: ``pred``: a label map, or probabilities with a last axis of ``n_classes``
    (the arg-max is taken); ``truth``: the true label map; ``n_classes``: how many classes.
    """
    pred, truth = label_maps(pred, truth, n_classes)  # label maps of one shape, 0..n_classes-1
    dice = np.ones(n_classes)  # a class absent from both maps: 1.0 (the course's policy)
    for c in range(n_classes):
        p, t = pred == c, truth == c  # P: voxels predicted as c; T: true voxels of c
        if p.any() or t.any():
            dice[c] = 2 * np.sum(p & t) / (np.sum(p) + np.sum(t))
    return dice


def recall_per_class(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Recall |P ∩ T| / |T| of each class: the share of its true voxels found; 1.0 if none.

    Parameters: ``pred``, ``truth`` and ``n_classes`` as in :func:`dice_per_class`.
    """
    pred, truth = label_maps(pred, truth, n_classes)
    recall = np.ones(n_classes)  # nothing to find: nothing missed
    for c in range(n_classes):
        t = truth == c
        if t.any():
            recall[c] = np.sum((pred == c) & t) / np.sum(t)
    return recall


def volume_difference(
    pred: np.ndarray, truth: np.ndarray, n_classes: int,
    spacing: Sequence[float] | None = None, relative: bool = False,
) -> np.ndarray:
    """Absolute volume difference ``|V_pred - V_truth|`` per class.

    Parameters: ``pred``, ``truth`` and ``n_classes`` as in :func:`confusion_counts`;
    ``spacing`` the voxel size in mm (z, y, x, any order: only the product counts), to
    get millilitres instead of voxels; ``relative`` True gives percent of the true volume
    (as in MRBrainS13): a class empty in both gives 0 %, one predicted but absent from
    the truth gives inf.
    """
    if spacing is not None:
        spacing = _spacing(spacing)
    _, p, t = confusion_counts(pred, truth, n_classes)
    diff = np.abs(p.astype(np.float64) - t)
    if relative:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t > 0, 100.0 * diff / np.maximum(t, 1), np.where(diff > 0, np.inf, 0.0))
    if spacing is not None:
        diff = diff * float(np.prod(spacing)) / 1000.0
    return diff


def lesion_counts(pred: np.ndarray, truth: np.ndarray, n_classes: int, lesion_class: int | None = None,
                  connectivity: int = 3) -> dict[str, int]:
    """Lesion-wise counts of one subject: true, detected, predicted and correct lesions.

    Parameters: ``pred``, ``truth`` and ``n_classes`` as in :func:`confusion_counts`;
    ``lesion_class`` the label of lesions (default the last class); ``connectivity`` which
    neighbours join one lesion: 1 faces (6-connected), 2 also edges (18), 3 also corners (26).
    A lesion counts when it overlaps the other map by at least one voxel (module docstring).
    """
    pred, truth = label_maps(pred, truth, n_classes)
    lesion = n_classes - 1 if lesion_class is None else checks.integer(
        lesion_class, "lesion_class", minimum=0, maximum=n_classes - 1)
    structure = ndimage.generate_binary_structure(
        truth.ndim, checks.integer(connectivity, "connectivity", minimum=1, maximum=truth.ndim))
    p, t = pred == lesion, truth == lesion
    true_ids, n_true = ndimage.label(t, structure)
    pred_ids, n_pred = ndimage.label(p, structure)
    return {"true": int(n_true), "detected": int(np.unique(true_ids[p & t]).size),
            "predicted": int(n_pred), "correct": int(np.unique(pred_ids[p & t]).size)}


def detection_scores(counts: dict[str, int] | Sequence[dict[str, int]]) -> dict[str, float]:
    """Lesion-wise recall, precision and F1 from :func:`lesion_counts` (a list is pooled).

    Parameters: ``counts`` one subject's counts, or a list of them (summed first, so every
    lesion of every subject weighs the same). Recall = detected / true, precision =
    correct / predicted, each 1.0 when its denominator is 0 (nothing to find, nothing
    claimed); F1 = their harmonic mean (0.0 when both are 0).
    """
    rows = [counts] if isinstance(counts, dict) else list(counts)
    total = {k: sum(int(r[k]) for r in rows) for k in ("true", "detected", "predicted", "correct")}
    recall = total["detected"] / total["true"] if total["true"] else 1.0
    precision = total["correct"] / total["predicted"] if total["predicted"] else 1.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return {"recall": recall, "precision": precision, "f1": f1, **total}


def _spacing(value) -> list[float]:
    """Three positive voxel sizes in mm (else ConfigError)."""
    if isinstance(value, (str, bytes)) or np.ndim(value) != 1 or len(value) != 3:
        raise ConfigError(f"spacing must be three voxel sizes in mm, got {value!r}",
                          name="spacing")
    return [checks.number(v, "spacing", minimum=0.0, open_min=True) for v in value]


# -----------------------------------------------------------------------------
# Keras metrics (keras.ops only)
# -----------------------------------------------------------------------------


def _label_pair(y_true, y_pred, n_classes: int, sample_weight=None):
    """One-hot (truth, arg-max prediction); NaN-poisoned if a label or prediction is invalid."""
    if sample_weight is not None:
        raise ConfigError("these metrics count voxels and cannot honour sample_weight; "
                          "leave it out (or weight the loss instead)", name="sample_weight")
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = labels_like(ops.convert_to_tensor(y_true), y_pred)
    labels = ops.cast(y_true, "int32")
    true_oh = ops.one_hot(labels, n_classes, dtype="float32")
    pred_oh = ops.one_hot(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), n_classes,
                          dtype="float32")
    # invalid labels would become all-zero rows and NaN predictions class 0, silently:
    # poison the accumulated counts with NaN instead (same policy as course_utils.losses)
    invalid = ops.logical_or(invalid_labels(y_true, n_classes),
                             ops.logical_not(ops.all(ops.isfinite(y_pred))))
    true_oh = true_oh + ops.where(invalid, float("nan"), 0.0)
    return true_oh, pred_oh


def _class_args(n_classes, class_id) -> tuple[int, int | None]:
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    if class_id is not None:
        class_id = checks.integer(class_id, "class_id", minimum=0, maximum=n_classes - 1)
    return n_classes, class_id


class _PerClassMetric(keras.metrics.Metric):
    """What the per-class metrics share: one value per class, ``result()`` of ``class_id``
    (or the mean over classes), and their config.

    Parameters: ``n_classes``; ``class_id`` (None: the mean); ``prefix`` of the default
    ``name`` (``<prefix>`` or ``<prefix>_<id>``); ``name`` and ``kwargs`` as for
    ``keras.metrics.Metric``.
    """

    def __init__(self, n_classes: int, class_id: int | None, prefix: str,
                 name: str | None = None, **kwargs):
        if name is None:
            name = prefix if class_id is None else f"{prefix}_{class_id}"
        super().__init__(name=name, **kwargs)
        self.n_classes, self.class_id = _class_args(n_classes, class_id)

    def per_class(self):
        """One value per class (subclasses say which)."""
        raise NotImplementedError

    def result(self):
        """The value of ``class_id``, or the mean over classes."""
        values = self.per_class()
        return ops.mean(values) if self.class_id is None else values[self.class_id]

    def get_config(self) -> dict:
        """Serialisable arguments."""
        return {**super().get_config(), "n_classes": self.n_classes,
                "class_id": self.class_id}


@keras.saving.register_keras_serializable(package="course_utils")
class DicePerClass(_PerClassMetric):
    """Dice accumulated over all batches (global counts), per class.

    ``result()`` is the Dice of ``class_id``, or the mean over classes when
    ``class_id`` is None; :meth:`per_class` gives the vector. Empty class in
    both prediction and truth: 1.0 (module policy).

    Parameters: ``n_classes`` the number of classes; ``class_id`` one class in
    0..n_classes-1, or None for the mean; ``name`` (default ``dice`` or ``dice_<id>``)
    and ``kwargs`` as for ``keras.metrics.Metric``.
    """

    def __init__(self, n_classes: int, class_id: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(n_classes, class_id, "dice", name, **kwargs)
        shape = (self.n_classes,)
        self.intersection = self.add_variable(shape=shape, initializer="zeros",
                                              name="intersection")
        self.pred_size = self.add_variable(shape=shape, initializer="zeros", name="pred_size")
        self.true_size = self.add_variable(shape=shape, initializer="zeros", name="true_size")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add the per-class counts of labels ``y_true`` [b, z, y, x] and probabilities
        ``y_pred`` [b, z, y, x, K]; ``sample_weight`` must be None (ConfigError)."""
        true_oh, pred_oh = _label_pair(y_true, y_pred, self.n_classes, sample_weight)
        axes = list(range(len(true_oh.shape) - 1))
        self.intersection.assign_add(ops.sum(true_oh * pred_oh, axis=axes))
        self.pred_size.assign_add(ops.sum(pred_oh, axis=axes))
        self.true_size.assign_add(ops.sum(true_oh, axis=axes))

    def per_class(self):
        """Dice of every class so far (a vector of n_classes)."""
        total = self.pred_size + self.true_size
        empty = ops.equal(total, 0.0)  # NaN (labels out of range) is not empty: stays NaN
        return ops.where(empty, 1.0, 2.0 * self.intersection / ops.where(empty, 1.0, total))


@keras.saving.register_keras_serializable(package="course_utils")
class VolumeDifference(_PerClassMetric):
    """Mean absolute volume difference per sample, in voxels (of ``class_id`` or averaged).

    Parameters as in :class:`DicePerClass`: ``n_classes``, ``class_id``, ``name`` (default
    ``avd`` or ``avd_<id>``), ``kwargs`` for ``keras.metrics.Metric``.
    """

    def __init__(self, n_classes: int, class_id: int | None = None,
                 name: str | None = None, **kwargs):
        super().__init__(n_classes, class_id, "avd", name, **kwargs)
        self.total = self.add_variable(shape=(self.n_classes,), initializer="zeros",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add |V_pred - V_true| of each sample of ``y_true`` and ``y_pred`` (as in
        :meth:`DicePerClass.update_state`; ``sample_weight`` must be None)."""
        true_oh, pred_oh = _label_pair(y_true, y_pred, self.n_classes, sample_weight)
        axes = list(range(1, len(true_oh.shape) - 1))
        diff = ops.abs(ops.sum(pred_oh, axis=axes) - ops.sum(true_oh, axis=axes))
        self.total.assign_add(ops.sum(diff, axis=0))
        self.count.assign_add(ops.cast(ops.shape(diff)[0], "float32"))

    def per_class(self):
        """Mean absolute volume difference of every class so far (voxels)."""
        return self.total / ops.maximum(self.count, 1.0)


def dice_metrics(n_classes: int, names: Sequence[str] | None = None) -> list:
    """One DicePerClass metric per class for ``model.compile(metrics=...)``, named ``dice_<name>``.

    Parameters: ``n_classes`` the number of classes; ``names`` one name per class
    (default ``0``, ``1``, ...).
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    names = [str(c) for c in range(n_classes)] if names is None else list(names)
    if len(names) != n_classes:
        raise ConfigError(f"give one name per class: {n_classes} classes but {len(names)} "
                          f"names {names}", name="names")
    return [DicePerClass(n_classes, class_id=c, name=f"dice_{str(n).replace(' ', '_')}")
            for c, n in enumerate(names)]
