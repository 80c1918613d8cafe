"""The 3D ResNet of lessons 07 and 08 (DLTK's resnet_3d in Keras 3)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from course_utils import checks
from course_utils.errors import ConfigError
from course_utils.networks._blocks import (
    _input_shape,
    _momentum,
    _normalization_kind,
    check_levels,
    normalization_layer,
    residual_unit_3d,
)

RESNET_REFERENCE_FILTERS = (16, 32, 64, 128, 256)  # DLTK's resnet_3d (age and sex)


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
