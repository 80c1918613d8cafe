"""The 3D super-resolution network of lesson 10 and its fixed linear upsampling layer."""

from __future__ import annotations

import keras

from course_utils import checks


def _linear_upsample_axis(x, factor: int, axis: int):
    """Linear upsampling of ``x`` along ``axis`` by ``factor`` (half-pixel centres, edges held)."""
    ops = keras.ops
    n = ops.shape(x)[axis]
    src = (ops.cast(ops.arange(n * factor), "float32") + 0.5) / factor - 0.5
    src = ops.clip(src, 0.0, ops.cast(n - 1, "float32"))
    lo = ops.cast(ops.floor(src), "int32")
    hi = ops.minimum(lo + 1, n - 1)
    shape = [1] * 5
    shape[axis] = -1
    weight = ops.reshape(src - ops.cast(lo, "float32"), shape)
    return ops.take(x, lo, axis=axis) * (1.0 - weight) + ops.take(x, hi, axis=axis) * weight


@keras.saving.register_keras_serializable(package="course_utils")
class LinearUpsampling3D(keras.layers.Layer):
    """Trilinear upsampling of (batch, z, y, x, channels) by an integer factor, in keras.ops.

    The same interpolation as ``scipy.ndimage.zoom(order=1, grid_mode=True, mode="nearest")``
    and ``tf.image.resize(..., "bilinear")`` applied axis by axis; no weights to learn.
    """

    def __init__(self, factor: int = 4, **kwargs):
        """``factor``: integer upsampling factor per axis; ``kwargs``: Keras layer arguments."""
        super().__init__(**kwargs)
        self.factor = checks.integer(factor, "factor", minimum=1)

    def call(self, x):
        """Upsample ``x`` (batch, z, y, x, channels) along z, y and x."""
        for axis in (1, 2, 3):
            x = _linear_upsample_axis(x, self.factor, axis)
        return x

    def compute_output_shape(self, input_shape):
        """``input_shape`` with every known spatial size times ``factor``."""
        b, *spatial, c = input_shape
        return (b, *(None if n is None else n * self.factor for n in spatial), c)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def super_resolution_3d(
    n_channels: int = 1,
    factor: int = 4,
    filters: int = 16,
    n_layers: int = 4,
    name: str = "super_resolution_3d",
) -> keras.Model:
    """Low-resolution volume -> the original grid: trilinear upsampling plus a learned residual.

    Parameters: ``n_channels`` input and output channels; ``factor`` the integer
    upsampling factor per axis; ``filters`` channels of each refining convolution (one
    integer); ``n_layers`` refining convolutions; ``name`` the model's. The input is
    upsampled trilinearly (a fixed layer); the convolutions on the fine grid predict
    what interpolation got wrong, and the two are added. The last convolution starts
    at zero, so the untrained model *is* trilinear upsampling and training can only
    move away from it where that helps. Fully convolutional: train on crops, predict
    whole volumes. Train with MSE.
    """
    n_channels = checks.integer(n_channels, "n_channels", minimum=1)
    factor = checks.integer(factor, "factor", minimum=1)
    filters = checks.integer(filters, "filters", minimum=1)
    n_layers = checks.integer(n_layers, "n_layers", minimum=1)
    inputs = keras.Input(shape=(None, None, None, n_channels), name="low_res")
    upsampled = LinearUpsampling3D(factor, name="trilinear")(inputs)
    x = upsampled
    for i in range(n_layers):
        x = keras.layers.Conv3D(filters, 3, padding="same", activation="relu",
                                name=f"refine{i}")(x)
    residual = keras.layers.Conv3D(n_channels, 3, padding="same", kernel_initializer="zeros",
                                   name="residual")(x)
    outputs = keras.layers.Add(name="super_resolved", dtype="float32")([upsampled, residual])
    return keras.Model(inputs, outputs, name=name)
