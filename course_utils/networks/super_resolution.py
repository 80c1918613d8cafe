"""Lesson 10: DLTK's low-resolution degradation, fixed trilinear upsampling and the super-resolution network.

Taught in notebook 10 (tools/taught.py keeps the copies identical).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from course_utils import checks
from course_utils.errors import ShapeError


def low_resolution(images, factor: int = 4):
    """Simulate scans with ``factor`` times bigger voxels as DLTK did: overlapping average pooling.

    Each low-resolution voxel is the mean of a window of ``2 * factor`` voxels along each
    axis, one window every ``factor`` voxels, so neighbouring windows overlap by half: a
    blur, then a subsampling. At the borders a window is cut to the volume ("same"
    padding; padded voxels are not counted). TensorFlow's pooling, DLTK's own op: it runs
    inside tf.data too, and returns a tensor (``np.asarray`` makes it an array).
    Parameters: ``images``: a batch [N, z, y, x, C], each spatial size a multiple of
    ``factor``; ``factor``: the integer downsampling factor per axis.
    """
    if any(int(n) % factor for n in images.shape[1:4]):
        raise ShapeError(f"low_resolution: spatial shape {tuple(images.shape[1:4])} is not a "
                         f"multiple of {factor}; crop first (crop_to_multiple(images, {factor}))")
    return tf.nn.avg_pool3d(tf.cast(images, tf.float32), 2 * factor, factor, padding="SAME")


def linear_upsample_axis(x, factor: int, axis: int):
    """Linear interpolation of ``x`` along ``axis`` onto a grid ``factor`` times finer.

    Voxel centres: fine voxel i sits at coarse coordinate (i + 0.5) / factor - 0.5; beyond
    the outermost coarse centres the edge value is held. Parameters: ``x``: a tensor
    (batch, z, y, x, channels); ``factor``: the integer factor; ``axis``: 1, 2 or 3.
    """
    ops = keras.ops
    n = ops.shape(x)[axis]
    src = (ops.cast(ops.arange(n * factor), "float32") + 0.5) / factor - 0.5
    src = ops.clip(src, 0.0, ops.cast(n - 1, "float32"))
    lo = ops.cast(ops.floor(src), "int32")  # the coarse neighbour below ...
    hi = ops.minimum(lo + 1, n - 1)  # ... and above
    shape = [1] * 5
    shape[axis] = -1
    weight = ops.reshape(src - ops.cast(lo, "float32"), shape)  # distance from `lo`, in [0, 1)
    return ops.take(x, lo, axis=axis) * (1.0 - weight) + ops.take(x, hi, axis=axis) * weight


@keras.saving.register_keras_serializable(package="course_utils")
class LinearUpsampling3D(keras.layers.Layer):
    """Trilinear upsampling of (batch, z, y, x, channels) by an integer factor: no weights to learn.

    The same interpolation as ``scipy.ndimage.zoom(order=1, grid_mode=True, mode="nearest")``
    and ``tf.image.resize(..., "bilinear")``, one axis after the other.
    """

    def __init__(self, factor: int = 4, **kwargs):
        """``factor``: integer upsampling factor per axis; ``kwargs``: Keras layer arguments."""
        super().__init__(**kwargs)
        self.factor = checks.integer(factor, "factor", minimum=1)

    def call(self, x):
        """Upsample ``x`` (batch, z, y, x, channels) along z, y and x."""
        for axis in (1, 2, 3):
            x = linear_upsample_axis(x, self.factor, axis)
        return x

    def compute_output_shape(self, input_shape):
        """``input_shape`` with every known spatial size times ``factor``."""
        b, *spatial, c = input_shape
        return (b, *(None if n is None else n * self.factor for n in spatial), c)

    def get_config(self):
        """The layer's configuration, with ``factor`` (for saving and loading)."""
        return {**super().get_config(), "factor": self.factor}


def super_resolution_3d(
    n_channels: int = 1,
    factor: int = 4,
    filters: int = 16,
    n_layers: int = 4,
    name: str = "super_resolution_3d",
) -> keras.Model:
    """Low-resolution volume -> the original grid: trilinear upsampling plus a learned residual.

    Parameters: ``n_channels``: input and output channels; ``factor``: the integer
    upsampling factor per axis; ``filters``: channels of each refining convolution (one
    integer); ``n_layers``: refining convolutions; ``name``: the model's. Fully
    convolutional: train on crops, predict whole volumes. Train with MSE.
    """
    for arg, value in dict(n_channels=n_channels, factor=factor, filters=filters,
                           n_layers=n_layers).items():
        checks.integer(value, arg, minimum=1)  # a clear error for 0, 1.5 or (8, 8)
    inputs = keras.Input(shape=(None, None, None, n_channels), name="low_res")
    upsampled = LinearUpsampling3D(factor, name="trilinear")(inputs)  # fixed, not learned
    x = upsampled
    for i in range(n_layers):  # convolutions on the fine grid find what interpolation missed
        x = keras.layers.Conv3D(filters, 3, padding="same", activation="relu",
                                name=f"refine{i}")(x)
    # Zero weights: the untrained network *is* trilinear upsampling, and training moves it
    # away only where that lowers the error.
    residual = keras.layers.Conv3D(n_channels, 3, padding="same", kernel_initializer="zeros",
                                   name="residual")(x)
    outputs = keras.layers.Add(name="super_resolved", dtype="float32")([upsampled, residual])
    return keras.Model(inputs, outputs, name=name)
