"""The application lessons 07-10 in one import: the same data, training and evaluation code.

Age regression (07) and sex classification (08) differ only in the head of the
network and the loss; 09 and 10 reuse the loading and add image-quality measures.
The code lives in one module per concept, and every name is reachable here as
``applications.NAME``:

- :mod:`course_utils.demographics`: checked ages and sex codes as targets;
- :mod:`course_utils.crops`: random crops and flips as tf.data streams, test-time crops;
- :mod:`course_utils.resolution`: crops to a multiple, average pooling, trilinear upsampling;
- :mod:`course_utils.image_quality`: PSNR and SSIM;
- here: volumes whitened inside the brain, in memory (:func:`load_volumes`), tissue
  volumes (:func:`tissue_volumes`), the run folder and
  :func:`fit` wrapper, and the comparison with baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# The lessons' helpers, one module per concept, all reachable as applications.NAME:
from course_utils.crops import (  # noqa: F401
    augment,
    centre_crop,
    crop_offsets,
    predict_with_crops,
    super_resolution_dataset,
    training_dataset,
    volume_dataset,
)
from course_utils.demographics import (  # noqa: F401
    AGE_RANGE,
    SEX_CLASSES,
    ages,
    check_demographics,
    sex_labels,
)
from course_utils.errors import ConfigError, DataError, ShapeError  # noqa: F401
from course_utils.image_quality import psnr, ssim  # noqa: F401
from course_utils.resolution import crop_to_multiple, downsample, upsample_linear  # noqa: F401


# =============================================================================
# Loading volumes into memory
# =============================================================================
def _read_subject(row: pd.Series, sequences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One subject's sequences as float32 [z, y, x, C] and its brain mask [z, y, x] (bool).

    The brain is the label map > 0 where the cohort has one (built-in cohort, lesson 03),
    else :func:`course_utils.preprocessing.foreground_mask` of the first sequence (IXI).
    """
    from course_utils import io, preprocessing

    image, label = io.read_subject(row, sequences=list(sequences), with_label=True)
    image = np.asarray(image, dtype="float32")
    brain = label > 0 if label is not None else preprocessing.foreground_mask(image[..., 0])
    if not brain.any():
        source = "label map" if label is not None else "foreground mask (Otsu threshold)"
        raise DataError(f"subject {row.get('subject_id', '?')}: its {source} holds no brain voxel, "
                        "so it cannot be whitened inside the brain; check that the scan is not blank",
                        path=row.get("label") if label is not None else row.get(sequences[0]))
    return image, brain


def load_volumes(cohort: pd.DataFrame, sequences: Sequence[str] = ("t1",),
                 factor: int = 1) -> np.ndarray:
    """Read every subject of ``cohort``, whitened inside its brain as lesson 03 teaches: [N, z, y, x, C].

    Each volume and channel gets zero mean and unit variance over its brain voxels
    (``preprocessing.whiten(image, mask=brain)``; the brain is the label map > 0, or a
    foreground mask where the cohort has no labels). Use a standardized cohort
    (``data.load(..., standardize=True)``) so that all subjects share one grid; a
    subject with another shape raises a DataError naming it.
    Parameters: ``cohort`` the table of subjects; ``sequences`` the cohort columns to
    read, one channel each, e.g. ``("t1", "t2")``; ``factor`` > 1 average-pools each
    whitened volume as it is read (after a central crop to a multiple of ``factor``), to
    keep big cohorts within a small memory.
    """
    from course_utils import preprocessing

    volumes, first = [], None
    for _, row in cohort.iterrows():
        image, brain = _read_subject(row, sequences)
        first = first or image.shape
        if image.shape != first:
            raise DataError(
                f"subject {row.get('subject_id', '?')} has shape {image.shape} but the first "
                f"has {first}; load the cohort with data.load(..., standardize=True) "
                "so that every subject shares one grid"
            )
        image = preprocessing.whiten(image, mask=brain)
        if factor > 1:
            image = downsample(crop_to_multiple(image[None], factor)[0], factor)
        volumes.append(image.astype("float32", copy=False))
    if not volumes:
        raise DataError("the cohort selection is empty: check the split names and n_subjects")
    return np.stack(volumes)


def tissue_volumes(cohort: pd.DataFrame) -> pd.DataFrame:
    """Millilitres of each labelled tissue per subject (one row per subject, columns by label name).

    Parameters: ``cohort`` a table with a ``label`` column of label-map files (the
    built-in cohort); a DataError says so if it has none (IXI).
    """
    import SimpleITK as sitk

    from course_utils import io

    if "label" not in cohort.columns or not cohort["label"].map(lambda v: isinstance(v, str)).all():
        raise DataError("tissue_volumes needs a label map per subject (column 'label'); this "
                        "cohort has none: use the built-in synthetic cohort", path=cohort.attrs.get("root"))
    rows = []
    for path in cohort["label"]:
        label = io.read_image(path)
        counts = np.bincount(sitk.GetArrayViewFromImage(label).ravel(), minlength=len(io.LABEL_NAMES))
        rows.append(counts * float(np.prod(label.GetSpacing())) / 1000.0)
    names = [io.LABEL_NAMES.get(i, f"label {i}") for i in range(len(rows[0]))]
    return pd.DataFrame(rows, columns=names, index=cohort.index).drop(columns="background")


def run_dir(notebook: str, params: dict) -> Path:
    """The run folder of ``notebook`` for these knobs (:func:`course_utils.training.run_folder`).

    Parameters: ``notebook`` its name; ``params`` its resolved knobs.
    """
    from course_utils import training

    return training.run_folder(notebook, params)


def fit(model, train_ds, *, epochs: int, steps_per_epoch: int, run_dir, validation_data=None,
        validation_steps: int | None = None, verbose: int | str = 0):
    """:func:`course_utils.training.fit` for models whose output is not a label map.

    Same run folder (TensorBoard logs, a checkpoint every epoch, resuming), without the
    per-label Dice and predicted-slice logger, since these models predict no labels.
    Parameters (as for :func:`course_utils.training.fit`): ``model``, compiled; ``train_ds``,
    a repeating dataset; ``epochs``; ``steps_per_epoch``; ``run_dir``, the run folder;
    ``validation_data`` and ``validation_steps`` (optional); ``verbose``, as in Keras.
    """
    from course_utils import training

    return training.fit(model, train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        run_dir=run_dir, validation_data=validation_data,
                        validation_steps=validation_steps, log_examples=False, verbose=verbose)


# =============================================================================
# Evaluation against baselines
# =============================================================================
def regression_metrics(predicted: np.ndarray, truth: np.ndarray,
                       train_truth: np.ndarray) -> dict[str, float]:
    """MAE and RMSE of the model and of the baseline that always predicts the training mean.

    Parameters: ``predicted`` and ``truth``, values of the test subjects; ``train_truth``,
    the training targets (for the baseline).
    """
    predicted = np.ravel(predicted).astype(float)
    truth = np.ravel(truth).astype(float)
    baseline = np.full_like(truth, float(np.mean(train_truth)))
    return {
        "mae": float(np.mean(np.abs(predicted - truth))),
        "rmse": float(np.sqrt(np.mean((predicted - truth) ** 2))),
        "baseline_mae": float(np.mean(np.abs(baseline - truth))),
        "baseline_rmse": float(np.sqrt(np.mean((baseline - truth) ** 2))),
        "baseline_value": float(baseline[0]) if baseline.size else float("nan"),
    }


def classification_metrics(probabilities: np.ndarray, truth: np.ndarray,
                           train_truth: np.ndarray) -> dict:
    """Accuracy, ROC AUC and confusion matrix, against always predicting the training majority.

    Parameters: ``probabilities`` of class 1 and ``truth`` (0/1) of the test subjects;
    ``train_truth``, the training classes (for the baseline).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

    probabilities = np.asarray(probabilities, dtype=float)
    truth = np.ravel(truth).astype(int)
    predicted = probabilities.argmax(axis=-1)
    majority = int(np.bincount(np.ravel(train_truth).astype(int)).argmax())
    n_classes = probabilities.shape[-1]
    auc = (float(roc_auc_score(truth, probabilities[:, 1]))
           if n_classes == 2 and len(np.unique(truth)) == 2 else float("nan"))
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "roc_auc": auc,
        "confusion": confusion_matrix(truth, predicted, labels=list(range(n_classes))).tolist(),
        "baseline_accuracy": float(np.mean(truth == majority)),
        "baseline_class": majority,
    }
