"""Random crops for training and fixed crops for testing, as tf.data streams (lessons 07-10).

Arrays are ``[subject, z, y, x, channel]`` float32 in LPS voxel order: axis ``x``
(2 of a volume, 3 of a batch) runs left-right, so a left/right flip reverses it.
The streams read the in-memory arrays as they are (no second copy, lesson 02) from
Python generators, and prefetch the next batch while the model trains.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from course_utils.errors import ShapeError
from course_utils.resolution import downsample


def augment(image: np.ndarray, crop_size: Sequence[int], rng: np.random.Generator,
            flip: bool = True) -> np.ndarray:
    """One training view of ``image`` [z, y, x, C]: a random crop, flipped left/right half the time.

    Parameters: ``crop_size`` (z, y, x); ``rng``, a numpy Generator; ``flip``, allow the flip.
    """
    from course_utils import augmentation

    crop, _ = augmentation.random_crop(image, None, rng, size=tuple(crop_size))
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
    Parameters: ``images`` [N, z, y, x, C]; ``targets``, one per subject; ``crop_size``
    (z, y, x); ``batch_size``; ``seed``; ``flip``, allow the left/right flip.
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
    # prefetch: the next batch is cut while the model trains on this one
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(
        tf.data.AUTOTUNE)


def super_resolution_dataset(images: np.ndarray, crop_size: Sequence[int], factor: int,
                             batch_size: int, seed: int):
    """An endless tf.data.Dataset of (low-resolution crop, crop) pairs for lesson 10.

    Random crops (flipped left/right half the time) of the high-resolution volumes are
    the targets; their average-pooled versions (:func:`downsample`) are the inputs.
    Parameters: ``images`` [N, z, y, x, C]; ``crop_size`` (z, y, x), a multiple of
    ``factor``, the downsampling factor; ``batch_size``; ``seed``.
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
    return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(
        tf.data.AUTOTUNE)


def crop_offsets(shape: Sequence[int], crop_size: Sequence[int], n_crops: int) -> list[tuple]:
    """The corners (z, y, x) of up to ``n_crops`` fixed crops: the centre, then the margin's corners.

    Parameters: ``shape`` the volume's (z, y, x[, channels]); ``crop_size`` (z, y, x) of
    each crop; ``n_crops`` how many distinct crops at most (1: the centre crop only).
    """
    margin = [int(n) - int(c) for n, c in zip(shape[:3], crop_size, strict=True)]
    if any(m < 0 for m in margin):
        raise ShapeError(f"crop_size {tuple(crop_size)} is larger than the volume "
                         f"{tuple(shape[:3])}; choose a smaller crop_size")
    centre = tuple(m // 2 for m in margin)
    corners = [(a * margin[0], b * margin[1], c * margin[2])
               for a in (0, 1) for b in (0, 1) for c in (0, 1)]
    offsets = list(dict.fromkeys([centre, *corners]))  # repeats removed, order kept
    return offsets[: max(1, int(n_crops))]


def centre_crop(images: np.ndarray, crop_size: Sequence[int]) -> np.ndarray:
    """The central ``crop_size`` block of every volume of ``images`` ``[N, z, y, x, C]``."""
    z, y, x = crop_offsets(np.shape(images)[1:], crop_size, 1)[0]
    return images[:, z:z + crop_size[0], y:y + crop_size[1], x:x + crop_size[2]]


def predict_with_crops(model, images: np.ndarray, crop_size: Sequence[int],
                       n_crops: int = 5, flip: bool = True, batch_size: int = 4,
                       average: bool = True) -> np.ndarray:
    """Test-time averaging: the mean prediction over ``n_crops`` fixed crops (and their flips).

    Parameters: ``model``, a Keras model; ``images`` [N, z, y, x, C]; ``crop_size`` (z, y, x);
    ``n_crops`` fixed crops (:func:`crop_offsets`); ``flip``, also the mirrored crops;
    ``batch_size`` of ``model.predict``; ``average`` False returns every view's prediction,
    ``[views, N, outputs]``, instead of their mean ``[N, outputs]``.
    """
    images = np.asarray(images, dtype="float32")
    views = []
    for z, y, x in crop_offsets(images.shape[1:], crop_size, n_crops):
        crop = images[:, z:z + crop_size[0], y:y + crop_size[1], x:x + crop_size[2]]
        mirrored = crop[:, :, :, ::-1]  # axis 3 is x: left <-> right
        for view in (crop, mirrored) if flip else (crop,):
            views.append(model.predict(view, batch_size=batch_size, verbose=0))
    views = np.stack(views)  # [views, N, outputs]
    return views.mean(axis=0) if average else views


def volume_dataset(inputs: np.ndarray, targets: np.ndarray, batch_size: int, seed: int):
    """An endless, shuffled tf.data.Dataset of whole (input, target) volume pairs (09, 10).

    Parameters: ``inputs``, ``targets`` arrays of equal length (the same array for an
    autoencoder); ``batch_size`` volumes per batch; ``seed`` of the shuffling.
    Each pass visits every volume once in a new random order, read from the arrays
    as they are (no second in-memory copy, lesson 02); batches are prefetched.
    """
    import tensorflow as tf

    inputs, targets = np.asarray(inputs), np.asarray(targets)
    if len(inputs) != len(targets) or len(inputs) < batch_size:
        raise ShapeError(f"volume_dataset needs as many inputs as targets and at least "
                         f"batch_size={batch_size} of them, got {len(inputs)} and {len(targets)}")

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        while True:
            for i in rng.permutation(len(inputs)):
                yield inputs[i], targets[i]

    signature = (tf.TensorSpec(inputs.shape[1:], tf.as_dtype(inputs.dtype)),
                 tf.TensorSpec(targets.shape[1:], tf.as_dtype(targets.dtype)))
    return (tf.data.Dataset.from_generator(pairs, output_signature=signature)
            .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
