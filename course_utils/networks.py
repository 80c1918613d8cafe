"""Networks: a residual 3D U-Net (lesson 06); 3D ResNet, autoencoder and super-resolution (07-10).

Every model is built with the Keras 3 functional API from named layers, so
``model.summary()`` reads like the architecture diagram, and only ``keras``
layers and ``keras.ops`` are used (no ``tf.`` calls inside a model), so the same
code runs on every Keras 3 backend.

Choosing a backend
------------------
TensorFlow is the course's default. Keras reads the ``KERAS_BACKEND``
environment variable once, when ``keras`` is first imported, so set it *before*
any import (first cell of a notebook, or the shell)::

    import os
    os.environ["KERAS_BACKEND"] = "torch"   # or "jax"; default "tensorflow"
    import keras

On CPU-only machines the PyTorch backend trains 3D convolutions markedly faster
(``python benchmarks/backends.py`` measures it on yours). The TensorBoard and
``tf.data`` parts of :mod:`course_utils.training` still need TensorFlow installed.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from course_utils.errors import ConfigError

Triple = tuple[int, int, int]

# =============================================================================
# Shared building blocks
# =============================================================================


def _triple(value: int | Sequence[int], what: str = "strides") -> Triple:
    """``2`` -> ``(2, 2, 2)``; a sequence of three positive ints is kept."""
    values = np.atleast_1d(np.asarray(value))
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or not np.all(values == np.round(values)) or np.any(values < 1):
        raise ConfigError(f"{what} must be a positive integer or three of them, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def normalization_layer(kind: str | None, name: str, momentum: float = 0.99) -> keras.layers.Layer:
    """A normalisation layer: ``"batch"`` (running statistics with ``momentum``),
    ``"instance"`` (one group per channel) or ``None``."""
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=momentum, name=name)
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, name=name)
    if kind is None or kind == "none":
        return keras.layers.Identity(name=name)
    raise ConfigError(f"normalization must be 'batch', 'instance' or None, got {kind!r}")


def residual_unit_3d(
    x,
    filters: int,
    strides: int | Sequence[int] = 1,
    name: str = "residual_unit",
    kernel_size: int = 3,
    normalization: str | None = "batch",
    activation: str = "relu",
    downsampling: str = "strided",
    batch_norm_momentum: float = 0.99,
):
    """Pre-activation residual unit (He et al. 2016, as in DLTK): x + conv(act(norm(conv(act(norm(x)))))).

    With ``strides`` > 1 the unit downsamples: ``downsampling="strided"`` puts the
    strides on the first convolution (DLTK); ``"pool"`` average-pools first and
    convolves at the lower resolution (same output shape; several times faster
    to train with TensorFlow on a CPU, whose strided 3D convolution gradients
    are slow). When the shape or the number of channels changes, the shortcut
    is a (pooled or strided) 1x1x1 convolution. Layers are named
    ``{name}_norm1``, ``{name}_conv1``, ..., ``{name}_add``.
    """
    strides = _triple(strides)
    if downsampling not in ("strided", "pool"):
        raise ConfigError(f"downsampling must be 'strided' or 'pool', got {downsampling!r}")
    pool = downsampling == "pool" and strides != (1, 1, 1)
    y = normalization_layer(normalization, f"{name}_norm1", batch_norm_momentum)(x)
    y = keras.layers.Activation(activation, name=f"{name}_act1")(y)
    if pool:
        y = keras.layers.AveragePooling3D(strides, padding="same", name=f"{name}_pool")(y)
    y = keras.layers.Conv3D(filters, kernel_size, strides=1 if pool else strides, padding="same",
                            name=f"{name}_conv1")(y)
    y = normalization_layer(normalization, f"{name}_norm2", batch_norm_momentum)(y)
    y = keras.layers.Activation(activation, name=f"{name}_act2")(y)
    y = keras.layers.Conv3D(filters, kernel_size, padding="same", name=f"{name}_conv2")(y)
    shortcut = x
    if pool:
        shortcut = keras.layers.AveragePooling3D(strides, padding="same",
                                                 name=f"{name}_shortcut_pool")(shortcut)
    if (strides != (1, 1, 1) and not pool) or x.shape[-1] != filters:
        shortcut = keras.layers.Conv3D(filters, 1, strides=1 if pool else strides,
                                       padding="same", name=f"{name}_shortcut")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


# =============================================================================
# Residual 3D U-Net (06)
# =============================================================================

REFERENCE_FILTERS = (16, 32, 64, 128)  # DLTK's residual_unet_3d


def default_strides(depth: int) -> list[Triple]:
    """No downsampling at the first level, then halve every axis at each deeper level."""
    return [(1, 1, 1)] + [(2, 2, 2)] * (depth - 1)


def check_levels(filters: Sequence[int], strides=None) -> tuple[list[int], list[tuple]]:
    """Validate one filter count and one stride per level (default strides if None)."""
    filters = [int(f) for f in filters]
    if len(filters) < 1 or min(filters) < 1:
        raise ConfigError(f"filters must be a non-empty list of positive integers, got {filters!r}")
    strides = default_strides(len(filters)) if strides is None else [_triple(s) for s in strides]
    if len(strides) != len(filters):
        raise ConfigError(
            f"give one stride per level: {len(filters)} filters {filters} but "
            f"{len(strides)} strides {strides}"
        )
    return filters, strides


def size_multiple(strides: Sequence[int | Sequence[int]]) -> Triple:
    """The number each spatial size must be a multiple of for a U-Net with ``strides``."""
    total = np.ones(3, dtype=int)
    for s in strides:
        total *= np.asarray(_triple(s))
    return tuple(int(v) for v in total)  # type: ignore[return-value]


def residual_unet_3d(
    n_classes: int = 5,
    n_channels: int = 3,
    filters: Sequence[int] = REFERENCE_FILTERS,
    strides: Sequence[int | Sequence[int]] | None = None,
    units_per_level: int = 1,
    normalization: str | None = "batch",
    output_activation: str | None = "softmax",
    patch_size: int | Sequence[int] | None = None,
    downsampling: str = "pool",
    upsampling: str = "nearest",
    batch_norm_momentum: float = 0.9,
    name: str = "residual_unet_3d",
) -> keras.Model:
    """A residual 3D U-Net: residual units in the encoder and decoder, skip connections by concatenation.

    ``filters[i]`` channels and ``strides[i]`` downsampling at level ``i`` (default:
    none at level 0, then 2 per axis); the decoder upsamples with transposed
    convolutions, concatenates the encoder's features of the same level and
    refines them with residual units. The output has ``n_classes`` channels:
    probabilities (``output_activation="softmax"``, computed in float32 even
    under mixed precision) or logits (``None``). ``patch_size=None`` builds a
    fully convolutional model that accepts any spatial size that is a multiple
    of :func:`size_multiple` (``model.size_multiple`` holds it).

    DLTK's reference used strided convolutions to downsample and transposed
    convolutions to upsample (``downsampling="strided", upsampling="transposed"``).
    The defaults, average pooling before the convolution and a 1x1x1 convolution
    followed by nearest-neighbour upsampling, give the same shapes and train
    several times faster with TensorFlow on a CPU (see ``benchmarks/backends.py``).
    ``batch_norm_momentum=0.9`` (Keras' default is 0.99) lets the running statistics
    used at inference settle within tens of steps, as short CPU runs need.
    """
    filters, strides = check_levels(filters, strides)
    if units_per_level < 1:
        raise ConfigError(f"units_per_level must be at least 1, got {units_per_level}")
    if upsampling not in ("nearest", "transposed"):
        raise ConfigError(f"upsampling must be 'nearest' or 'transposed', got {upsampling!r}")
    multiple = size_multiple(strides)
    spatial = (None, None, None) if patch_size is None else _triple(patch_size, "patch_size")
    if patch_size is not None and any(s % m for s, m in zip(spatial, multiple, strict=True)):
        raise ConfigError(
            f"patch_size {spatial} must be a multiple of {multiple} (the product of the strides "
            f"{strides}); choose e.g. {tuple(-(-s // m) * m for s, m in zip(spatial, multiple, strict=True))}"
        )

    inputs = keras.Input(shape=(*spatial, n_channels), name="image")
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)

    skips = []
    for level, (f, s) in enumerate(zip(filters, strides, strict=True)):
        for unit in range(units_per_level):
            x = residual_unit_3d(x, f, s if unit == 0 else 1, name=f"enc{level}_unit{unit}",
                                 normalization=normalization, downsampling=downsampling,
                                 batch_norm_momentum=batch_norm_momentum)
        skips.append(x)

    for level in reversed(range(len(filters) - 1)):
        up = strides[level + 1]
        if upsampling == "transposed":
            x = keras.layers.Conv3DTranspose(filters[level], up, strides=up, padding="same",
                                             name=f"dec{level}_upsample")(x)
        else:  # a 1x1x1 convolution commutes with nearest upsampling: do it on fewer voxels
            x = keras.layers.Conv3D(filters[level], 1, name=f"dec{level}_project")(x)
            x = keras.layers.UpSampling3D(up, name=f"dec{level}_upsample")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        for unit in range(units_per_level):
            x = residual_unit_3d(x, filters[level], 1, name=f"dec{level}_unit{unit}",
                                 normalization=normalization,
                                 batch_norm_momentum=batch_norm_momentum)

    x = normalization_layer(normalization, "final_norm", batch_norm_momentum)(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.Conv3D(n_classes, 1, name="logits", dtype="float32")(x)
    if output_activation is not None:
        x = keras.layers.Activation(output_activation, name="probabilities", dtype="float32")(x)
    model = keras.Model(inputs, x, name=name)
    model.size_multiple = multiple
    return model


def block_table(model: keras.Model):
    """A compact summary: one row per block (``init_conv``, ``enc0_unit0``, ``dec1_upsample``...)
    with its output shape and number of parameters; ``model.summary()`` lists every layer."""
    import pandas as pd

    rows: dict[str, dict] = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        parts = layer.name.split("_")
        block = "_".join(parts[:2]) if parts[0][:3] in ("enc", "dec") else layer.name
        row = rows.setdefault(block, {"block": block, "params": 0})
        row["output shape"] = tuple(layer.output.shape[1:])
        row["params"] += layer.count_params()
    return pd.DataFrame(list(rows.values()), columns=["block", "output shape", "params"])


# --- 3D ResNet, autoencoder, super-resolution (07-10) ---
# The models of the application lessons, from the same named Keras layers and keras.ops.

from course_utils.errors import ShapeError  # noqa: E402

RESNET_REFERENCE_FILTERS = (16, 32, 64, 128, 256)  # DLTK's resnet_3d (age and sex)


def resnet_3d(
    input_shape: Sequence[int | None] = (None, None, None, 1),
    head: str = "regression",
    n_outputs: int = 1,
    filters: Sequence[int] = RESNET_REFERENCE_FILTERS,
    strides: Sequence[int | Sequence[int]] | None = None,
    units_per_scale: int = 1,
    normalization: str | None = "batch",
    batch_norm_momentum: float = 0.99,
    downsampling: str = "pool",
    name: str | None = None,
) -> keras.Model:
    """A scalable 3D ResNet: residual units per scale, global average pooling, then a head.

    The body is the same for every task; only the head differs. ``head="regression"``
    ends in a linear ``Dense(n_outputs)`` named ``prediction`` (train with mean squared
    error, lesson 07); ``head="classification"`` ends in ``Dense(n_outputs, softmax)``
    named ``probabilities`` (train with cross-entropy, lesson 08). ``filters[i]``
    channels and ``strides[i]`` downsampling at scale ``i`` (default: 1, then 2 per
    axis). Global pooling makes it accept any input size (``input_shape`` may hold None).
    ``batch_norm_momentum``: lower it (e.g. 0.9) for short runs, so that the running
    statistics used at inference have caught up with the data after a few hundred steps.
    ``downsampling``: ``"strided"`` convolutions as in DLTK, or ``"pool"`` (average
    pooling, then convolution: same shapes, much faster to train with TensorFlow on a CPU).
    """
    if head not in ("regression", "classification"):
        raise ConfigError(f"head must be 'regression' or 'classification', got {head!r}")
    if head == "classification" and n_outputs < 2:
        raise ConfigError(
            f"a classification head needs one output per class (n_outputs >= 2), got {n_outputs}"
        )
    filters, strides = check_levels(filters, strides)
    if len(input_shape) != 4:
        raise ShapeError(f"resnet_3d wants input_shape (z, y, x, channels), got {input_shape}")

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)
    for scale, (f, s) in enumerate(zip(filters, strides, strict=True)):
        for unit in range(units_per_scale):
            x = residual_unit_3d(x, f, s if unit == 0 else 1, name=f"scale{scale}_unit{unit}",
                                 normalization=normalization, downsampling=downsampling)
    x = normalization_layer(normalization, "final_norm")(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.GlobalAveragePooling3D(name="global_pool")(x)
    if head == "regression":
        outputs = keras.layers.Dense(n_outputs, name="prediction", dtype="float32")(x)
    else:
        outputs = keras.layers.Dense(n_outputs, activation="softmax", name="probabilities",
                                     dtype="float32")(x)
    model = keras.Model(inputs, outputs, name=name or f"resnet_3d_{head}")
    return _set_batch_norm_momentum(model, batch_norm_momentum)


def _set_batch_norm_momentum(model: keras.Model, momentum: float) -> keras.Model:
    """Set the running-statistics momentum of every BatchNormalization layer in ``model``."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)
    return model


def autoencoder_3d(
    input_shape: Sequence[int],
    latent_size: int = 64,
    filters: Sequence[int] = (8, 16, 32, 64),
    batch_norm_momentum: float = 0.99,
    name: str = "autoencoder_3d",
) -> keras.Model:
    """A 3D convolutional autoencoder: volume -> ``latent_size`` numbers -> volume.

    The encoder halves the grid ``len(filters)`` times (average pooling, then a
    convolution) and a dense layer squeezes the result into the code; the decoder mirrors
    it (nearest-neighbour upsampling, then a convolution) and outputs as many channels as
    it was given. Both halves
    are sub-models: ``model.get_layer("encoder")`` maps volumes to codes and
    ``model.get_layer("decoder")`` codes to volumes. Spatial sizes must be multiples of
    ``2 ** len(filters)``. Train with mean squared error. The output layer starts at
    zero, so an untrained model returns 0 (feed it scans minus their mean and it starts at
    the mean). ``batch_norm_momentum`` as in :func:`resnet_3d`.
    """
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) != 4:
        raise ShapeError(f"autoencoder_3d wants input_shape (z, y, x, channels), got {input_shape}")
    filters = [int(f) for f in filters]
    multiple = 2 ** len(filters)
    for axis, n in zip("zyx", input_shape[:3], strict=True):
        if n % multiple:
            raise ShapeError(
                f"autoencoder_3d: axis {axis} has {n} voxels (input shape {input_shape}), not a "
                f"multiple of {multiple} = 2 ** len(filters); crop the volumes first "
                f"(applications.crop_to_multiple(images, {multiple})) or use fewer filters"
            )
    if latent_size < 1:
        raise ConfigError(f"latent_size must be a positive integer, got {latent_size}")
    channels = input_shape[-1]

    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.AveragePooling3D(2, name=f"enc{i}_pool")(x)
        x = keras.layers.Conv3D(f, 3, padding="same", name=f"enc{i}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"enc{i}_norm")(x)
        x = keras.layers.Activation("relu", name=f"enc{i}_act")(x)
    bottleneck = tuple(int(n) for n in x.shape[1:])
    x = keras.layers.Flatten(name="flatten")(x)
    code = keras.layers.Dense(latent_size, name="code")(x)
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input(shape=(latent_size,), name="code_in")
    y = keras.layers.Dense(int(np.prod(bottleneck)), activation="relu", name="expand")(code_in)
    y = keras.layers.Reshape(bottleneck, name="unflatten")(y)
    for i in reversed(range(1, len(filters))):
        y = keras.layers.UpSampling3D(2, name=f"dec{i}_up")(y)
        y = keras.layers.Conv3D(filters[i - 1], 3, padding="same", name=f"dec{i}_conv")(y)
        y = keras.layers.BatchNormalization(name=f"dec{i}_norm")(y)
        y = keras.layers.Activation("relu", name=f"dec{i}_act")(y)
    # the last step back to the full grid goes straight to the output sequences: a wide
    # convolution at full resolution would cost most of the compute for little gain
    y = keras.layers.UpSampling3D(2, name="dec0_up")(y)
    recon = keras.layers.Conv3D(channels, 3, padding="same", kernel_initializer="zeros",
                                name="reconstruction", dtype="float32")(y)  # starts at 0
    decoder = keras.Model(code_in, recon, name="decoder")

    model = keras.Model(inputs, decoder(encoder(inputs)), name=name)
    return _set_batch_norm_momentum(model, batch_norm_momentum)


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
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, x):
        for axis in (1, 2, 3):
            x = _linear_upsample_axis(x, self.factor, axis)
        return x

    def compute_output_shape(self, input_shape):
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

    The input is upsampled trilinearly (a fixed layer); a stack of ``n_layers`` 3D
    convolutions on the fine grid predicts what interpolation got wrong, and the two
    are added. The last convolution starts at zero, so the untrained model *is*
    trilinear upsampling and training can only move away from it where that helps.
    Fully convolutional: train on crops, predict whole volumes. Train with MSE.
    """
    if int(factor) < 1 or n_layers < 1:
        raise ConfigError(f"factor and n_layers must be positive, got {factor} and {n_layers}")
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
