"""The residual 3D U-Net of lesson 06 (DLTK's residual_unet_3d in Keras 3), its level checks and block table."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from course_utils import checks
from course_utils.errors import ConfigError
from course_utils.networks._blocks import (
    Triple,
    _momentum,
    _normalization_kind,
    check_levels,
    normalization_layer,
    residual_unit_3d,
)

REFERENCE_FILTERS = (16, 32, 64, 128)  # DLTK's residual_unet_3d


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


def unet_encoder(x, filters: Sequence[int], strides: Sequence[Triple], units: int,
                 options: dict) -> list:
    """The contracting path: at every level, residual units, the first one downsampling.

    Parameters: ``x`` the input features (batch, z, y, x, channels); ``filters[i]`` the
    channels and ``strides[i]`` the downsampling of level ``i``; ``units`` residual units
    per level; ``options`` keywords for ``residual_unit_3d`` (normalization, ...).
    Returns every level's output, finest first: the skip connections.
    """
    skips = []
    for level, (f, s) in enumerate(zip(filters, strides, strict=True)):
        for unit in range(units):
            x = residual_unit_3d(x, f, s if unit == 0 else 1, name=f"enc{level}_unit{unit}",
                                 **options)
        skips.append(x)
    return skips


def unet_decoder(skips: list, filters: Sequence[int], strides: Sequence[Triple], units: int,
                 upsampling: str, options: dict):
    """The expanding path: from the deepest level up, upsample, concatenate the skip, refine.

    Parameters: ``skips`` the encoder's outputs (:func:`unet_encoder`); ``filters``,
    ``strides``, ``units`` and ``options`` as there; ``upsampling`` ``"nearest"`` (a 1x1x1
    convolution, then nearest-neighbour upsampling) or ``"transposed"`` (a learned
    transposed convolution).
    """
    x = skips[-1]
    for level in reversed(range(len(filters) - 1)):
        up = strides[level + 1]  # undo the downsampling that led to the level below
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


def unet_outputs(inputs, n_classes: int, filters: Sequence[int], strides: Sequence[Triple],
                 units: int, upsampling: str, options: dict, output_activation: str | None):
    """The whole U-Net on ``inputs``: a first convolution, encoder, decoder, a voxel-wise classifier.

    Parameters: ``inputs`` a Keras input (batch, z, y, x, channels); ``n_classes`` output
    channels; ``filters``, ``strides``, ``units``, ``upsampling`` and ``options`` as in
    :func:`unet_decoder`; ``output_activation`` ``"softmax"`` (probabilities) or None (logits).
    """
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)
    skips = unet_encoder(x, filters, strides, units, options)
    x = unet_decoder(skips, filters, strides, units, upsampling, options)
    x = normalization_layer(options.get("normalization"), "final_norm",
                            options.get("batch_norm_momentum", 0.99))(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.Conv3D(n_classes, 1, name="logits", dtype="float32")(x)  # a score per class
    if output_activation is not None:  # float32 even under mixed precision
        x = keras.layers.Activation(output_activation, name="probabilities", dtype="float32")(x)
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
    refines them with residual units. DLTK's reference (dltk/networks/segmentation/unet.py)
    downsampled with strided convolutions (``downsampling="strided"``; its kernels were
    4 wide where the stride is 2) and upsampled with a transposed convolution whose kernel
    was a *fixed* trilinear interpolation (``linear_upsample_3d``, not trained), with no
    projection; ``upsampling="transposed"`` learns that kernel instead. The defaults give
    the same shapes and train about twice as fast with TensorFlow on a CPU
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
    outputs = unet_outputs(inputs, n_classes, filters, strides, units, upsampling, options,
                           output_activation)
    return keras.Model(inputs, outputs, name=name)


def block_table(model: keras.Model, input_size: int | Sequence[int] | None = None):
    """A compact summary of ``model``: one row per block (``init_conv``, ``enc0_unit0``,
    ``dec1_upsample``...) with its output shape and number of parameters.

    A fully convolutional model accepts any size, so its layers' own shapes are ``None``: the
    shapes shown are those for an input of ``input_size`` voxels, worked out symbolically
    (nothing is computed). ``model.summary()`` lists every layer.

    Parameters: ``model``, a Keras functional model with one input; ``input_size``, (z, y, x)
    (default: the model's own input size, or where that is free the smallest size it
    accepts, :func:`size_multiple`).
    """
    import pandas as pd

    shape = tuple(model.inputs[0].shape)  # (batch, z, y, x, channels)
    multiple = size_multiple(model)
    if input_size is None:
        size = tuple(m if d is None else int(d) for d, m in zip(shape[1:4], multiple, strict=True))
    else:
        size = checks.triple(input_size, "input_size")
    if any(s % m for s, m in zip(size, multiple, strict=True)):
        raise ConfigError(f"input_size {size} is not a multiple of {multiple}, the sizes "
                          f"{model.name} accepts (networks.size_multiple)", name="input_size")
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [la.output for la in layers])
    specs = probe.compute_output_spec(keras.KerasTensor((1, *size, shape[-1])))
    rows: dict[str, dict] = {"input": {"block": "input", "output shape": (*size, shape[-1]),
                                       "params": 0}}
    for layer, spec in zip(layers, specs, strict=True):
        parts = layer.name.split("_")
        block = "_".join(parts[:2]) if parts[0][:3] in ("enc", "dec") else layer.name
        row = rows.setdefault(block, {"block": block, "params": 0})
        row["output shape"] = tuple(spec.shape[1:])
        row["params"] += layer.count_params()
    return pd.DataFrame(list(rows.values()), columns=["block", "output shape", "params"])
