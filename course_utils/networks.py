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

from course_utils import checks
from course_utils.errors import ConfigError, ShapeError

# Longer than the course's ~450-line guideline (about 530 lines), on purpose: the five models
# share the residual unit, the level checks and size_multiple, and notebooks 06-10 and the
# benchmarks import them all from this one module.

Triple = tuple[int, int, int]

# =============================================================================
# Shared building blocks
# =============================================================================

NORMALIZATIONS = ("batch", "instance", "none")


def _normalization_kind(kind: str | None) -> str:
    """``None`` -> ``"none"``; otherwise one of :data:`NORMALIZATIONS` (else ConfigError)."""
    return "none" if kind is None else checks.option(kind, NORMALIZATIONS, "normalization")


def _momentum(value: float) -> float:
    return checks.number(value, "batch_norm_momentum", minimum=0.0, maximum=1.0, open_max=True)


def normalization_layer(kind: str | None, name: str, momentum: float = 0.99) -> keras.layers.Layer:
    """A normalisation layer.

    Parameters: ``kind`` ``"batch"`` (running statistics updated with ``momentum``),
    ``"instance"`` (one group per channel) or ``None``/``"none"`` (identity);
    ``name`` the layer's name; ``momentum`` for batch normalisation, in [0, 1).
    """
    kind = _normalization_kind(kind)
    if kind == "batch":
        return keras.layers.BatchNormalization(momentum=_momentum(momentum), name=name)
    if kind == "instance":
        return keras.layers.GroupNormalization(groups=-1, name=name)
    return keras.layers.Identity(name=name)


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

    Parameters: ``x`` a 5D Keras tensor (batch, z, y, x, channels); ``filters`` output
    channels; ``strides`` downsampling factor (one or three integers); ``name`` prefix of
    the layer names (``{name}_norm1``, ``{name}_conv1``, ..., ``{name}_add``);
    ``kernel_size`` of both convolutions; ``normalization`` as in
    :func:`normalization_layer`; ``activation`` a Keras activation name;
    ``downsampling`` ``"strided"`` puts the strides on the first convolution (DLTK),
    ``"pool"`` average-pools first and convolves at the lower resolution (same output
    shape; several times faster to train with TensorFlow on a CPU, whose strided 3D
    convolution gradients are slow); ``batch_norm_momentum`` of batch normalisation.
    When the shape or the number of channels changes, the shortcut is a (pooled or
    strided) 1x1x1 convolution.
    """
    strides = checks.triple(strides, "strides")
    filters = checks.integer(filters, "filters", minimum=1)
    downsampling = checks.option(downsampling, ("strided", "pool"), "downsampling")
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
    """No downsampling at the first level, then halve every axis at each deeper level
    (``depth``: the number of levels)."""
    return [(1, 1, 1)] + [(2, 2, 2)] * (checks.integer(depth, "depth", minimum=1) - 1)


def check_levels(filters: Sequence[int], strides=None) -> tuple[list[int], list[Triple]]:
    """Validate one filter count and one stride per level.

    Parameters: ``filters`` positive integers, one per level (e.g. ``[8, 16, 32]``);
    ``strides`` one integer or (z, y, x) triple per level, or None for
    :func:`default_strides`. Returns both as lists; ConfigError naming the argument.
    """
    filters = checks.int_list(filters, "filters", example="[8, 16, 32]")
    if strides is None:
        return filters, default_strides(len(filters))
    if isinstance(strides, np.ndarray):
        strides = strides.tolist()
    if isinstance(strides, (str, bytes, int, np.integer)) or not isinstance(strides, Sequence):
        raise ConfigError(
            f"strides must be a list with one stride per level, such as {default_strides(len(filters))}, "
            f"got {strides!r}", name="strides")
    strides = [checks.triple(s, "strides") for s in strides]
    if len(strides) != len(filters):
        raise ConfigError(
            f"give one stride per level: {len(filters)} filters {filters} but "
            f"{len(strides)} strides {strides}", name="strides")
    return filters, strides


_DOWNSAMPLING = (keras.layers.Conv3D, keras.layers.AveragePooling3D, keras.layers.MaxPooling3D)
_UPSAMPLING = (keras.layers.UpSampling3D, keras.layers.Conv3DTranspose)


def _layer_factor(layer, factor: np.ndarray) -> np.ndarray:
    """The cumulative downsampling factor after ``layer``, given the one of its input."""
    if isinstance(layer, keras.layers.UpSampling3D):
        return np.maximum(factor // np.asarray(checks.triple(layer.size, "size")), 1)
    if isinstance(layer, keras.layers.Conv3DTranspose):
        return np.maximum(factor // np.asarray(checks.triple(layer.strides, "strides")), 1)
    if isinstance(layer, _DOWNSAMPLING):
        return factor * np.asarray(checks.triple(layer.strides, "strides"))
    return factor


def _path_factors(model: keras.Model, factor_in: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(deepest cumulative downsampling factor, factor of the output) along ``model``'s layers."""
    ones = np.ones(3, dtype=int)
    factors = {id(t): factor_in for t in keras.tree.flatten(model.inputs)}  # per tensor
    deepest = factor_in
    for layer in model.layers:  # in topological order
        if isinstance(layer, keras.layers.InputLayer):
            continue
        incoming = np.lcm.reduce([factors.get(id(t), ones) for t in keras.tree.flatten(layer.input)])
        if isinstance(layer, keras.Model):  # a nested sub-model (the autoencoder's halves)
            inner, factor = _path_factors(layer, incoming)
            deepest = np.lcm(deepest, inner)
        else:
            factor = _layer_factor(layer, incoming)
        deepest = np.lcm(deepest, factor)
        for t in keras.tree.flatten(layer.output):
            factors[id(t)] = factor if len(t.shape) == 5 else ones
    out = [factors.get(id(t), ones) for t in keras.tree.flatten(model.outputs)]
    return deepest, np.lcm.reduce(out)


def size_multiple(model_or_strides: keras.Model | Sequence[int | Sequence[int]]) -> Triple:
    """The number each spatial size must be a multiple of: ``size_multiple(model)`` or
    ``size_multiple(strides)``.

    Parameters: ``model_or_strides`` a Keras model, whose layers are read (the product of
    the strides and pool sizes along its deepest path, less later upsampling), so the
    answer survives ``keras.models.load_model``; or one stride per level of a U-Net.
    """
    if isinstance(model_or_strides, keras.Model):
        deepest, _ = _path_factors(model_or_strides, np.ones(3, dtype=int))
        return tuple(int(v) for v in deepest)  # type: ignore[return-value]
    total = np.ones(3, dtype=int)
    for s in model_or_strides:
        total *= np.asarray(checks.triple(s, "strides"))
    return tuple(int(v) for v in total)  # type: ignore[return-value]


def _unet_encoder(x, filters, strides, units, options: dict) -> list:
    """The encoder's features at every level (``options``: residual_unit_3d keywords)."""
    skips = []
    for level, (f, s) in enumerate(zip(filters, strides, strict=True)):
        for unit in range(units):
            x = residual_unit_3d(x, f, s if unit == 0 else 1, name=f"enc{level}_unit{unit}",
                                 **options)
        skips.append(x)
    return skips


def _unet_decoder(skips, filters, strides, units, upsampling: str, options: dict):
    """Upsample from the deepest level, concatenate each level's skip, refine."""
    x = skips[-1]
    for level in reversed(range(len(filters) - 1)):
        up = strides[level + 1]
        if upsampling == "transposed":
            x = keras.layers.Conv3DTranspose(filters[level], up, strides=up, padding="same",
                                             name=f"dec{level}_upsample")(x)
        else:  # a 1x1x1 convolution commutes with nearest upsampling: do it on fewer voxels
            x = keras.layers.Conv3D(filters[level], 1, name=f"dec{level}_project")(x)
            x = keras.layers.UpSampling3D(up, name=f"dec{level}_upsample")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        for unit in range(units):
            x = residual_unit_3d(x, filters[level], 1, name=f"dec{level}_unit{unit}",
                                 **options)
    return x


def _unet_input_shape(patch_size, n_channels: int, multiple: Triple, strides) -> tuple:
    if patch_size is None:
        return (None, None, None, n_channels)
    spatial = checks.triple(patch_size, "patch_size")
    if any(s % m for s, m in zip(spatial, multiple, strict=True)):
        fit = tuple(-(-s // m) * m for s, m in zip(spatial, multiple, strict=True))
        raise ConfigError(
            f"patch_size {spatial} must be a multiple of {multiple} (the product of the strides "
            f"{strides}); choose e.g. {fit}", name="patch_size")
    return (*spatial, n_channels)


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

    Parameters:
    ``n_classes`` output channels; ``n_channels`` input channels (sequences);
    ``filters[i]`` channels and ``strides[i]`` downsampling at level ``i`` (default
    strides: none at level 0, then 2 per axis); ``units_per_level`` residual units per
    level, in the encoder and the decoder; ``normalization`` ``"batch"``, ``"instance"``
    or None; ``output_activation`` ``"softmax"`` gives probabilities (computed in
    float32 even under mixed precision), None logits; ``patch_size`` None builds a fully
    convolutional model that accepts any spatial size that is a multiple of
    ``size_multiple(model)``, an integer or triple fixes the input size;
    ``downsampling`` ``"pool"`` (average pooling, then convolution) or ``"strided"``
    (strided convolution); ``upsampling`` ``"nearest"`` (a 1x1x1 convolution, then
    nearest-neighbour upsampling) or ``"transposed"`` (transposed convolution);
    ``batch_norm_momentum`` 0.9 (Keras' default is 0.99) lets the running statistics used
    at inference settle within tens of steps, as short CPU runs need; ``name`` the model's.

    The decoder upsamples, concatenates the encoder's features of the same level and
    refines them with residual units. DLTK's reference used
    ``downsampling="strided", upsampling="transposed"``; the defaults give the same
    shapes and train several times faster with TensorFlow on a CPU
    (see ``benchmarks/backends.py``).
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    n_channels = checks.integer(n_channels, "n_channels", minimum=1)
    filters, strides = check_levels(filters, strides)
    units = checks.integer(units_per_level, "units_per_level", minimum=1)
    upsampling = checks.option(upsampling, ("nearest", "transposed"), "upsampling")
    options = {"normalization": _normalization_kind(normalization),
               "downsampling": checks.option(downsampling, ("strided", "pool"), "downsampling"),
               "batch_norm_momentum": _momentum(batch_norm_momentum)}
    multiple = size_multiple(strides)
    inputs = keras.Input(shape=_unet_input_shape(patch_size, n_channels, multiple, strides),
                         name="image")
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)
    skips = _unet_encoder(x, filters, strides, units, options)
    x = _unet_decoder(skips, filters, strides, units, upsampling, options)
    x = normalization_layer(options["normalization"], "final_norm", batch_norm_momentum)(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.Conv3D(n_classes, 1, name="logits", dtype="float32")(x)
    if output_activation is not None:
        x = keras.layers.Activation(output_activation, name="probabilities", dtype="float32")(x)
    return keras.Model(inputs, x, name=name)


def block_table(model: keras.Model):
    """A compact summary of ``model``: one row per block (``init_conv``, ``enc0_unit0``,
    ``dec1_upsample``...) with its output shape and number of parameters;
    ``model.summary()`` lists every layer."""
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


# =============================================================================
# 3D ResNet, autoencoder, super-resolution (07-10)
# =============================================================================

RESNET_REFERENCE_FILTERS = (16, 32, 64, 128, 256)  # DLTK's resnet_3d (age and sex)


def _input_shape(value, what: str, allow_none: bool) -> tuple:
    """(z, y, x, channels): positive integers (spatial sizes may be None if ``allow_none``)."""
    ok = not isinstance(value, (str, bytes)) and isinstance(value, Sequence) and len(value) == 4
    if ok:
        try:
            spatial = tuple(None if (n is None and allow_none)
                            else checks.integer(n, "input_shape", minimum=1) for n in value[:3])
            return (*spatial, checks.integer(value[3], "input_shape", minimum=1))
        except ConfigError:
            pass
    sizes = "positive integers or None" if allow_none else "positive integers"
    raise ShapeError(f"{what} wants input_shape (z, y, x, channels) of {sizes}, got {value!r}")


def resnet_3d(
    input_shape: Sequence[int | None] = (None, None, None, 1),
    head: str = "regression",
    n_outputs: int = 1,
    filters: Sequence[int] = RESNET_REFERENCE_FILTERS,
    strides: Sequence[int | Sequence[int]] | None = None,
    units_per_level: int = 1,
    normalization: str | None = "batch",
    batch_norm_momentum: float = 0.99,
    downsampling: str = "pool",
    name: str | None = None,
) -> keras.Model:
    """A scalable 3D ResNet: residual units per level (scale), global average pooling, then a head.

    Parameters: ``input_shape`` (z, y, x, channels), spatial sizes may be None (global
    pooling accepts any size); ``head`` ``"regression"`` ends in a linear
    ``Dense(n_outputs)`` named ``prediction`` (mean squared error, lesson 07),
    ``"classification"`` in ``Dense(n_outputs, softmax)`` named ``probabilities``
    (cross-entropy, lesson 08); ``n_outputs`` values or classes (>= 2 to classify);
    ``filters[i]`` channels and ``strides[i]`` downsampling at level ``i`` (default 1,
    then 2 per axis; layers ``scale{i}_unit{j}_...``); ``units_per_level`` residual
    units per level; ``normalization`` ``"batch"``, ``"instance"`` or None;
    ``batch_norm_momentum`` lower it (e.g. 0.9) for short runs, so that the running
    statistics used at inference catch up with the data within a few hundred steps;
    ``downsampling`` ``"strided"`` convolutions as in DLTK or ``"pool"`` (same shapes,
    much faster to train with TensorFlow on a CPU); ``name`` the model's
    (default ``resnet_3d_{head}``).
    """
    head = checks.option(head, ("regression", "classification"), "head")
    n_outputs = checks.integer(n_outputs, "n_outputs", minimum=1)
    if head == "classification" and n_outputs < 2:
        raise ConfigError(
            f"a classification head needs one output per class (n_outputs >= 2), got {n_outputs}",
            name="n_outputs")
    filters, strides = check_levels(filters, strides)
    units = checks.integer(units_per_level, "units_per_level", minimum=1)
    options = {"normalization": _normalization_kind(normalization),
               "downsampling": checks.option(downsampling, ("strided", "pool"), "downsampling"),
               "batch_norm_momentum": _momentum(batch_norm_momentum)}
    inputs = keras.Input(shape=_input_shape(input_shape, "resnet_3d", True), name="image")
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)
    for scale, (f, s) in enumerate(zip(filters, strides, strict=True)):
        for unit in range(units):
            x = residual_unit_3d(x, f, s if unit == 0 else 1, name=f"scale{scale}_unit{unit}",
                                 **options)
    x = normalization_layer(options["normalization"], "final_norm", batch_norm_momentum)(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.GlobalAveragePooling3D(name="global_pool")(x)
    activation, layer_name = (None, "prediction") if head == "regression" else ("softmax",
                                                                                "probabilities")
    outputs = keras.layers.Dense(n_outputs, activation=activation, name=layer_name,
                                 dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet_3d_{head}")


def _conv_norm_act(x, filters: int, name: str, momentum: float):
    """3x3x3 convolution, batch normalisation, ReLU: ``{name}_conv``, ``_norm``, ``_act``."""
    x = keras.layers.Conv3D(filters, 3, padding="same", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=momentum, name=f"{name}_norm")(x)
    return keras.layers.Activation("relu", name=f"{name}_act")(x)


def autoencoder_3d(
    input_shape: Sequence[int],
    latent_size: int = 64,
    filters: Sequence[int] = (8, 16, 32, 64),
    batch_norm_momentum: float = 0.99,
    name: str = "autoencoder_3d",
) -> keras.Model:
    """A 3D convolutional autoencoder: volume -> ``latent_size`` numbers -> volume.

    Parameters: ``input_shape`` (z, y, x, channels), spatial sizes multiples of
    ``2 ** len(filters)``; ``latent_size`` length of the code; ``filters[i]`` channels
    at the i-th halving; ``batch_norm_momentum`` as in :func:`resnet_3d`; ``name`` the
    model's. The encoder halves the grid ``len(filters)`` times (average pooling, then a
    convolution) and a dense layer squeezes the result into the code; the decoder
    mirrors it (nearest-neighbour upsampling, then a convolution) and outputs as many
    channels as it was given. Both halves are sub-models: ``model.get_layer("encoder")``
    maps volumes to codes and ``model.get_layer("decoder")`` codes to volumes. Train with
    mean squared error. The output layer starts at zero, so an untrained model returns 0
    (feed it scans minus their mean and it starts at the mean).
    """
    input_shape = _input_shape(input_shape, "autoencoder_3d", False)
    filters = checks.int_list(filters, "filters", example="[8, 16, 32]")
    latent_size = checks.integer(latent_size, "latent_size", minimum=1)
    momentum = _momentum(batch_norm_momentum)
    multiple = 2 ** len(filters)
    for axis, n in zip("zyx", input_shape[:3], strict=True):
        if n % multiple:
            raise ShapeError(
                f"autoencoder_3d: axis {axis} has {n} voxels (input shape {input_shape}), not a "
                f"multiple of {multiple} = 2 ** len(filters); crop the volumes first "
                f"(applications.crop_to_multiple(images, {multiple})) or use fewer filters"
            )
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.AveragePooling3D(2, name=f"enc{i}_pool")(x)
        x = _conv_norm_act(x, f, f"enc{i}", momentum)
    bottleneck = tuple(int(n) for n in x.shape[1:])
    code = keras.layers.Dense(latent_size, name="code")(keras.layers.Flatten(name="flatten")(x))
    encoder = keras.Model(inputs, code, name="encoder")

    code_in = keras.Input(shape=(latent_size,), name="code_in")
    y = keras.layers.Dense(int(np.prod(bottleneck)), activation="relu", name="expand")(code_in)
    y = keras.layers.Reshape(bottleneck, name="unflatten")(y)
    for i in reversed(range(1, len(filters))):
        y = keras.layers.UpSampling3D(2, name=f"dec{i}_up")(y)
        y = _conv_norm_act(y, filters[i - 1], f"dec{i}", momentum)
    # the last step back to the full grid goes straight to the output sequences: a wide
    # convolution at full resolution would cost most of the compute for little gain
    y = keras.layers.UpSampling3D(2, name="dec0_up")(y)
    recon = keras.layers.Conv3D(input_shape[-1], 3, padding="same", kernel_initializer="zeros",
                                name="reconstruction", dtype="float32")(y)  # starts at 0
    decoder = keras.Model(code_in, recon, name="decoder")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)


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
