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


def normalization_layer(kind: str | None, name: str) -> keras.layers.Layer:
    """A normalisation layer: ``"batch"``, ``"instance"`` (one group per channel) or ``None``."""
    if kind == "batch":
        return keras.layers.BatchNormalization(name=name)
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
):
    """Pre-activation residual unit (He et al. 2016, as in DLTK): x + conv(act(norm(conv(act(norm(x)))))).

    The first convolution carries ``strides`` (downsampling); when the shape or
    the number of channels changes, the shortcut is a strided 1x1x1 convolution.
    Layers are named ``{name}_norm1``, ``{name}_conv1``, ..., ``{name}_add``.
    """
    strides = _triple(strides)
    y = normalization_layer(normalization, f"{name}_norm1")(x)
    y = keras.layers.Activation(activation, name=f"{name}_act1")(y)
    y = keras.layers.Conv3D(filters, kernel_size, strides=strides, padding="same",
                            name=f"{name}_conv1")(y)
    y = normalization_layer(normalization, f"{name}_norm2")(y)
    y = keras.layers.Activation(activation, name=f"{name}_act2")(y)
    y = keras.layers.Conv3D(filters, kernel_size, padding="same", name=f"{name}_conv2")(y)
    shortcut = x
    if strides != (1, 1, 1) or x.shape[-1] != filters:
        shortcut = keras.layers.Conv3D(filters, 1, strides=strides, padding="same",
                                       name=f"{name}_shortcut")(x)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


# =============================================================================
# Residual 3D U-Net (06)
# =============================================================================

REFERENCE_FILTERS = (16, 32, 64, 128)  # DLTK's residual_unet_3d


def default_strides(depth: int) -> list[Triple]:
    """No downsampling at the first level, then halve every axis at each deeper level."""
    return [(1, 1, 1)] + [(2, 2, 2)] * (depth - 1)


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
    """
    filters = [int(f) for f in filters]
    if len(filters) < 1 or min(filters) < 1:
        raise ConfigError(f"filters must be a non-empty list of positive integers, got {filters!r}")
    strides = default_strides(len(filters)) if strides is None else [_triple(s) for s in strides]
    if len(strides) != len(filters):
        raise ConfigError(
            f"give one stride per level: {len(filters)} filters {filters} but "
            f"{len(strides)} strides {strides}"
        )
    if units_per_level < 1:
        raise ConfigError(f"units_per_level must be at least 1, got {units_per_level}")
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
                                 normalization=normalization)
        skips.append(x)

    for level in reversed(range(len(filters) - 1)):
        up = strides[level + 1]
        x = keras.layers.Conv3DTranspose(filters[level], up, strides=up, padding="same",
                                         name=f"dec{level}_upsample")(x)
        x = keras.layers.Concatenate(name=f"dec{level}_concat")([skips[level], x])
        for unit in range(units_per_level):
            x = residual_unit_3d(x, filters[level], 1, name=f"dec{level}_unit{unit}",
                                 normalization=normalization)

    x = normalization_layer(normalization, "final_norm")(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.Conv3D(n_classes, 1, name="logits", dtype="float32")(x)
    if output_activation is not None:
        x = keras.layers.Activation(output_activation, name="probabilities", dtype="float32")(x)
    model = keras.Model(inputs, x, name=name)
    model.size_multiple = multiple
    return model


# --- 3D ResNet, autoencoder, super-resolution (07-10) ---
