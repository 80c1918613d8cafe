"""Shared helpers of the application lessons 07-10: the same data, training and evaluation code.

Age regression (07) and sex classification (08) differ only in the head of the
network and the loss; everything else (loading whitened T1 volumes into memory,
random crops and left/right flips for training, averaging predictions over
several crops at test time, comparing with a baseline) lives here, once.
Lessons 09 and 10 reuse the loading and add image-quality measures (PSNR, SSIM)
and the average-pooling degradation of super-resolution.

Arrays are ``[subject, z, y, x, channel]`` float32, in the LPS voxel order of
``data.load(..., standardize=True)``: axis ``x`` (2 of a volume, 3 of a batch)
runs left-right, so a left/right flip reverses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from course_utils.errors import ConfigError, DataError, ShapeError

#: Ages (years) a subject can plausibly have; anything else is a data-entry error.
AGE_RANGE = (0.0, 120.0)
#: How sex is coded as a class index (the order of the classifier's outputs).
SEX_CLASSES = ("F", "M")


# =============================================================================
# Demographics and targets
# =============================================================================
def check_demographics(cohort: pd.DataFrame, require: Sequence[str] = ("age", "sex")) -> None:
    """Raise a DataError naming the table/subject if age or sex is missing or implausible."""
    where = cohort.attrs.get("root") or cohort.attrs.get("name") or "the demographics table"
    missing = [c for c in require if c not in cohort.columns]
    if missing:
        raise DataError(
            f"{where}: the demographics have no column(s) {', '.join(missing)} "
            f"(columns: {', '.join(map(str, cohort.columns))}); lessons 07-09 need age and sex "
            "per subject: add them, or pick a dataset that has them (synthetic, ixi)"
        )
    ids = cohort["subject_id"] if "subject_id" in cohort.columns else cohort.index
    if "age" in require:
        age = pd.to_numeric(cohort["age"], errors="coerce")
        low, high = AGE_RANGE
        bad = ~age.between(low, high)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{where}: subject {ids.iloc[i]} has age {str(cohort['age'].iloc[i])!r}, outside the "
                f"plausible range {low:g}-{high:g} years ({int(bad.sum())} such subject(s)); "
                "correct the demographics file or drop these subjects"
            )
    if "sex" in require:
        bad = ~cohort["sex"].isin(SEX_CLASSES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{where}: subject {ids.iloc[i]} has sex {cohort['sex'].iloc[i]!r}; "
                f"expected one of {', '.join(SEX_CLASSES)}; correct the demographics file"
            )


def sex_labels(cohort: pd.DataFrame) -> np.ndarray:
    """Sex as class indices (0 = F, 1 = M), after :func:`check_demographics`."""
    check_demographics(cohort, require=("sex",))
    return cohort["sex"].map({s: i for i, s in enumerate(SEX_CLASSES)}).to_numpy("int32")


def ages(cohort: pd.DataFrame) -> np.ndarray:
    """Age in years as float32, after :func:`check_demographics`."""
    check_demographics(cohort, require=("age",))
    return cohort["age"].to_numpy("float32")


# =============================================================================
# Loading volumes into memory
# =============================================================================
def _read_subject(row: pd.Series, sequences: Sequence[str]) -> np.ndarray:
    """One subject's sequences as a float32 [z, y, x, C] array (course_utils.io)."""
    from course_utils import io

    image, _ = io.read_subject(row, sequences=list(sequences), with_label=False)
    return np.asarray(image, dtype="float32")


def load_volumes(cohort: pd.DataFrame, sequences: Sequence[str] = ("t1",),
                 factor: int = 1) -> np.ndarray:
    """Read every subject of ``cohort`` and whiten each volume and channel: [N, z, y, x, C].

    Use a standardized cohort (``data.load(..., standardize=True)``) so that all
    subjects share one grid; a subject with another shape raises a DataError naming it.
    ``factor`` > 1 average-pools each volume as it is read (after a central crop to a
    multiple of ``factor``), to keep big cohorts within a small memory.
    """
    from course_utils import preprocessing

    volumes = []
    for _, row in cohort.iterrows():
        image = _read_subject(row, sequences)
        if factor > 1:
            image = downsample(crop_to_multiple(image[None], factor)[0], factor)
        if volumes and image.shape != volumes[0].shape:
            raise DataError(
                f"subject {row.get('subject_id', '?')} has shape {image.shape} but the first "
                f"has {volumes[0].shape}; load the cohort with data.load(..., standardize=True) "
                "so that every subject shares one grid"
            )
        volumes.append(preprocessing.whiten(image).astype("float32"))
    if not volumes:
        raise DataError("the cohort selection is empty: check the split names and n_subjects")
    return np.stack(volumes)


def crop_to_multiple(images: np.ndarray, multiple: int) -> np.ndarray:
    """Centre-crop the spatial axes of ``[N, z, y, x, C]`` to the largest multiple of ``multiple``."""
    images = np.asarray(images)
    if images.ndim != 5:
        raise ShapeError(f"crop_to_multiple wants [N, z, y, x, C], got shape {images.shape}")
    slices = [slice(None)]
    for n in images.shape[1:4]:
        keep = n - n % multiple
        if keep == 0:
            raise ShapeError(
                f"a spatial size of {n} voxels is smaller than {multiple}; use larger volumes"
            )
        start = (n - keep) // 2
        slices.append(slice(start, start + keep))
    return images[tuple(slices) + (slice(None),)]


# =============================================================================
# Training data: random crops and left/right flips
# =============================================================================
def augment(image: np.ndarray, crop_size: Sequence[int], rng: np.random.Generator,
            flip: bool = True) -> np.ndarray:
    """One training view of a [z, y, x, C] volume: a random crop, flipped left/right half the time."""
    from course_utils import augmentation

    crop, _ = augmentation.random_crop(image, None, tuple(crop_size), rng)
    if flip:
        crop, _ = augmentation.random_flip(crop, None, rng, axis=2)
    return np.ascontiguousarray(crop, dtype="float32")


def training_dataset(
    images: np.ndarray,
    targets: np.ndarray,
    crop_size: Sequence[int],
    batch_size: int,
    seed: int,
    flip: bool = True,
):
    """An endless tf.data.Dataset of (crops, targets) batches, reproducible for a given seed.

    Each batch picks ``batch_size`` subjects at random, crops each at a random place
    and flips it left/right half the time: the network never sees the same input twice.
    """
    import tensorflow as tf

    images = np.asarray(images, dtype="float32")
    targets = np.asarray(targets)
    crop_size = tuple(int(c) for c in crop_size)
    if len(crop_size) != 3 or any(c > n for c, n in zip(crop_size, images.shape[1:4],
                                                         strict=True)):
        raise ShapeError(
            f"crop_size {crop_size} must be 3 sizes no larger than the volumes "
            f"{images.shape[1:4]}; choose a smaller crop_size"
        )

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            pick = rng.integers(0, len(images), size=batch_size)
            x = np.stack([augment(images[i], crop_size, rng, flip) for i in pick])
            yield x, targets[pick]

    signature = (
        tf.TensorSpec((batch_size, *crop_size, images.shape[-1]), tf.float32),
        tf.TensorSpec((batch_size, *targets.shape[1:]), tf.as_dtype(targets.dtype)),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=signature)


def super_resolution_dataset(images: np.ndarray, crop_size: Sequence[int], factor: int,
                             batch_size: int, seed: int):
    """An endless tf.data.Dataset of (low-resolution crop, crop) pairs for lesson 10.

    Random crops (flipped left/right half the time) of the high-resolution volumes are
    the targets; their average-pooled versions (:func:`downsample`) are the inputs.
    """
    import tensorflow as tf

    images = np.asarray(images, dtype="float32")
    crop_size = tuple(int(c) for c in crop_size)
    downsample(np.zeros(crop_size, "float32"), factor)  # checks the crop divides by factor
    low_size = tuple(c // factor for c in crop_size)

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            pick = rng.integers(0, len(images), size=batch_size)
            high = np.stack([augment(images[i], crop_size, rng) for i in pick])
            yield np.stack([downsample(h, factor) for h in high]), high

    channels = images.shape[-1]
    signature = (
        tf.TensorSpec((batch_size, *low_size, channels), tf.float32),
        tf.TensorSpec((batch_size, *crop_size, channels), tf.float32),
    )
    return tf.data.Dataset.from_generator(batches, output_signature=signature)


def crop_offsets(shape: Sequence[int], crop_size: Sequence[int], n_crops: int) -> list[tuple]:
    """``n_crops`` fixed crop corners: the centre first, then the 8 corners of the margin."""
    margin = [int(n) - int(c) for n, c in zip(shape[:3], crop_size, strict=True)]
    if any(m < 0 for m in margin):
        raise ShapeError(f"crop_size {tuple(crop_size)} is larger than the volume {tuple(shape)}")
    centre = tuple(m // 2 for m in margin)
    corners = [
        (a * margin[0], b * margin[1], c * margin[2])
        for a in (0, 1) for b in (0, 1) for c in (0, 1)
    ]
    offsets = list(dict.fromkeys([centre, *corners]))  # distinct, in order
    return offsets[: max(1, int(n_crops))]


def centre_crop(images: np.ndarray, crop_size: Sequence[int]) -> np.ndarray:
    """The central ``crop_size`` block of every volume of ``[N, z, y, x, C]``."""
    z, y, x = crop_offsets(np.shape(images)[1:], crop_size, 1)[0]
    return images[:, z:z + crop_size[0], y:y + crop_size[1], x:x + crop_size[2]]


def predict_with_crops(model, images: np.ndarray, crop_size: Sequence[int],
                       n_crops: int = 5, flip: bool = True, batch_size: int = 4) -> np.ndarray:
    """Test-time averaging: the mean prediction over ``n_crops`` fixed crops (and their flips)."""
    images = np.asarray(images, dtype="float32")
    offsets = crop_offsets(images.shape[1:], crop_size, n_crops)
    total = 0.0
    views = 0
    for z, y, x in offsets:
        crop = images[:, z:z + crop_size[0], y:y + crop_size[1], x:x + crop_size[2]]
        for flipped in ((False, True) if flip else (False,)):
            view = crop[:, :, :, ::-1] if flipped else crop
            total = total + model.predict(view, batch_size=batch_size, verbose=0)
            views += 1
    return np.asarray(total / views)


def run_dir(notebook: str, params: dict) -> Path:
    """The run folder of ``notebook`` for these knobs: same knobs resume, new knobs start afresh."""
    import hashlib
    import json

    from course_utils import config

    knobs = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True, default=str)
    digest = hashlib.sha1(knobs.encode()).hexdigest()[:8]
    return config.reports_dir() / "runs" / f"{notebook}_{params.get('preset', 'run')}_{digest}"


def fit(model, train_ds, *, epochs: int, steps_per_epoch: int, run_dir, validation_data=None,
        validation_steps: int | None = None, verbose: int | str = 0):
    """:func:`course_utils.training.fit` for models whose output is not a label map.

    Same run folder (TensorBoard logs, a checkpoint every epoch, resuming), without the
    per-label Dice and predicted-slice logger, since these models predict no labels.
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
    """MAE and RMSE of the model and of the baseline that always predicts the training mean."""
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
    """Accuracy, ROC AUC and confusion matrix, against always predicting the training majority."""
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


# =============================================================================
# Image quality (09, 10) and the super-resolution degradation (10)
# =============================================================================
def _data_range(reference: np.ndarray, data_range: float | None) -> float:
    value = float(np.ptp(reference)) if data_range is None else float(data_range)
    if not value > 0:
        raise ShapeError("the reference image is constant: give data_range explicitly")
    return value


def psnr(predicted: np.ndarray, reference: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB: 10 log10(range^2 / MSE); range defaults to the reference's."""
    predicted = np.asarray(predicted, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if predicted.shape != reference.shape:
        raise ShapeError(f"psnr needs equal shapes, got {predicted.shape} and {reference.shape}")
    mse = float(np.mean((predicted - reference) ** 2))
    peak = _data_range(reference, data_range)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))


def ssim(
    predicted: np.ndarray,
    reference: np.ndarray,
    data_range: float | None = None,
    sigma: float | Sequence[float] = 1.5,
    truncate: float = 3.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> float:
    """Mean structural similarity (Wang et al. 2004) with Gaussian windows, in 2D or 3D.

    Local means, variances and covariance come from ``scipy.ndimage.gaussian_filter``
    (``sigma`` per axis; 0 leaves an axis unfiltered, e.g. ``(0, 1.5, 1.5)`` is SSIM per
    axial slice); the border where the window would leave the image is not averaged.
    """
    x = np.asarray(predicted, dtype=float)
    y = np.asarray(reference, dtype=float)
    if x.shape != y.shape:
        raise ShapeError(f"ssim needs equal shapes, got {x.shape} and {y.shape}")
    peak = _data_range(y, data_range)
    c1, c2 = (k1 * peak) ** 2, (k2 * peak) ** 2
    sigmas = np.broadcast_to(np.asarray(sigma, dtype=float), (x.ndim,))

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigmas, truncate=truncate, mode="reflect")

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    radius = [int(truncate * s + 0.5) if s > 0 else 0 for s in sigmas]
    inner = tuple(slice(r, n - r) for r, n in zip(radius, x.shape, strict=True))
    return float(index[inner].mean())


def downsample(volume: np.ndarray, factor: int = 4) -> np.ndarray:
    """Average-pool a [z, y, x] or [z, y, x, C] volume by ``factor`` along each spatial axis."""
    volume = np.asarray(volume, dtype="float32")
    factor = int(factor)
    if factor < 1:
        raise ConfigError(f"the downsampling factor must be a positive integer, got {factor}")
    if volume.ndim not in (3, 4):
        raise ShapeError(f"downsample wants [z, y, x] or [z, y, x, C], got shape {volume.shape}")
    for axis, n in zip("zyx", volume.shape[:3], strict=True):
        if n % factor:
            lower, upper = n - n % factor, n - n % factor + factor
            raise ShapeError(
                f"axis {axis} has {n} voxels, not divisible by the factor {factor}; crop it to "
                f"{lower} or pad it to {upper} voxels first "
                f"(applications.crop_to_multiple(images, {factor}) crops a batch)"
            )
    z, y, x = (n // factor for n in volume.shape[:3])
    rest = volume.shape[3:]
    blocks = volume.reshape(z, factor, y, factor, x, factor, *rest)
    return blocks.mean(axis=(1, 3, 5)).astype("float32")


def upsample_linear(volume: np.ndarray, factor: int = 4) -> np.ndarray:
    """Trilinear upsampling of a [z, y, x] or [z, y, x, C] volume by ``factor`` (scipy.ndimage)."""
    volume = np.asarray(volume, dtype="float32")
    zoom = (factor,) * 3 + (1,) * (volume.ndim - 3)
    return ndimage.zoom(volume, zoom, order=1, grid_mode=True, mode="nearest").astype("float32")


def volume_dataset(inputs: np.ndarray, targets: np.ndarray, batch_size: int, seed: int):
    """An endless, shuffled tf.data.Dataset of whole (input, target) volume pairs (09, 10)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((np.asarray(inputs), np.asarray(targets)))
    return (data.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
            .repeat().batch(batch_size, drop_remainder=True))
