"""Method 1: batches from volumes already in memory (lesson 02)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from course_utils.errors import ShapeError
from course_utils.pipelines._common import check_patch, order, tf_module


def memory_dataset(images: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 5,
                   shuffle: bool = True, seed: int = 42, repeat: bool = True,
                   patch_size: Sequence[int] | None = None):
    """Batches from arrays already in memory (``images``: ``[n, z, y, x, C]``); optional random
    crops of ``patch_size`` (same crop for image and label).

    Like ``from_tensor_slices(images).shuffle(n)``, but it shuffles indices and
    gathers, so the shuffle buffer does not hold a second copy of every volume.

    Parameters: ``images`` float ``[n, z, y, x(, C)]``; ``labels`` one per image (numbers
    or label maps ``[n, z, y, x]``) or None; ``batch_size``; ``shuffle`` (reshuffled each
    epoch); ``seed``; ``repeat`` (endless); ``patch_size`` (z, y, x) random crops or None.
    """
    tf = tf_module()
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4:
        images = images[..., None]
    if images.ndim != 5:
        raise ShapeError(f"memory_dataset needs images [n, z, y, x, C], got {images.shape}")
    if labels is not None and len(labels) != len(images):
        raise ShapeError(f"{len(images)} images but {len(labels)} labels")
    # One copy in TensorFlow; the stream shuffles indices and gathers, so the shuffle
    # buffer holds numbers, not a second copy of the volumes.
    x_all = tf.constant(images)
    y_all = None if labels is None else tf.constant(np.asarray(labels))
    ds = order(tf.data.Dataset.range(len(images)), len(images), shuffle, seed, repeat)
    if y_all is None:
        ds = ds.map(lambda i: tf.gather(x_all, i))
    else:
        ds = ds.map(lambda i: (tf.gather(x_all, i), tf.gather(y_all, i)))
    if patch_size is not None:
        size = check_patch(patch_size, images.shape[1:4], "the in-memory images")
        ds = ds.enumerate().map(_crop_fn(size, seed, images.shape[-1], labels),
                                num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


def _crop_fn(size, seed, channels, labels):
    """A ``(index, element) -> cropped element`` function: one stateless crop per example."""
    tf = tf_module()
    with_label = labels is not None and np.ndim(labels) == 4

    def crop(index, element):
        x, y = (element, None) if labels is None else element
        s = tf.stack([tf.constant(seed, tf.int64), index])
        if with_label:
            both = tf.concat([x, tf.cast(y[..., None], x.dtype)], axis=-1)
            out = tf.image.stateless_random_crop(both, (*size, channels + 1), seed=s)
            return out[..., :channels], tf.cast(out[..., channels], y.dtype)
        out = tf.image.stateless_random_crop(x, (*size, channels), seed=s)
        return out if labels is None else (out, y)
    return crop
