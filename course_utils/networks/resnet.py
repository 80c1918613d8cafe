"""The 3D ResNet of lessons 07 and 08 (DLTK's resnet_3d in Keras 3).

``resnet_scale`` and ``resnet_3d_outputs`` are taught in notebook 07 (tools/taught.py
keeps them identical); :func:`resnet_3d` checks the arguments and builds the model.
"""

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


def resnet_scale(x, filters, strides, units, name, **unit_options):
    """One scale of the ResNet: ``units`` residual units, the first one downsampling.

    Parameters: ``x`` a 5D Keras tensor; ``filters`` channels of every unit; ``strides``
    downsampling factor of the first unit (the others keep the grid); ``units`` how many
    units; ``name`` prefix of the layer names (``{name}_unit0_...``); ``unit_options``
    passed on to ``residual_unit_3d`` (normalization, downsampling, batch_norm_momentum).
    """
    for unit in range(units):
        x = residual_unit_3d(x, filters, strides if unit == 0 else 1,
                             name=f"{name}_unit{unit}", **unit_options)
    return x


def resnet_3d_outputs(inputs, filters, strides, head="regression", n_outputs=1,
                      units_per_level=1, normalization="batch", batch_norm_momentum=0.99,
                      downsampling="pool"):
    """The 3D ResNet from ``inputs`` to its answer: scales of residual units, pooling, a head.

    Parameters: ``inputs`` a 5D Keras tensor (batch, z, y, x, channels); ``filters[i]``
    and ``strides[i]`` the channels and downsampling of scale ``i``; ``head``
    ``"regression"`` (a linear ``Dense``: numbers such as an age) or ``"classification"``
    (BatchNorm of the pooled vector, then ``Dense`` + softmax: one probability per class);
    ``n_outputs`` numbers or classes;
    ``units_per_level`` residual units per scale; ``normalization``,
    ``batch_norm_momentum`` and ``downsampling`` as in ``residual_unit_3d``.
    """
    x = keras.layers.Conv3D(filters[0], 3, padding="same", name="init_conv")(inputs)
    for scale, (f, s) in enumerate(zip(filters, strides, strict=True)):
        x = resnet_scale(x, f, s, units_per_level, f"scale{scale}", normalization=normalization,
                         downsampling=downsampling, batch_norm_momentum=batch_norm_momentum)
    x = normalization_layer(normalization, "final_norm", batch_norm_momentum)(x)
    x = keras.layers.Activation("relu", name="final_act")(x)
    x = keras.layers.GlobalAveragePooling3D(name="global_pool")(x)  # one vector per scan
    if head == "regression":
        return keras.layers.Dense(n_outputs, name="prediction", dtype="float32")(x)
    # classes: each pooled feature standardized over the scans (BatchNorm on the vector), so a
    # difference between scans of a few per cent of a feature reaches the softmax at full scale
    x = normalization_layer("batch", "pooled_norm", batch_norm_momentum)(x)
    return keras.layers.Dense(n_outputs, activation="softmax", name="probabilities",
                              dtype="float32")(x)


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
    """A scalable 3D ResNet (checked arguments, then :func:`resnet_3d_outputs`) as a Keras model.

    Parameters: ``input_shape`` (z, y, x, channels), spatial sizes may be None (global
    pooling accepts any size); ``head`` ``"regression"`` ends in a linear
    ``Dense(n_outputs)`` named ``prediction`` (mean squared error, lesson 07),
    ``"classification"`` in a BatchNorm of the pooled vector (``pooled_norm``) and
    ``Dense(n_outputs, softmax)`` named ``probabilities``
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
    inputs = keras.Input(shape=_input_shape(input_shape, "resnet_3d", True), name="image")
    outputs = resnet_3d_outputs(
        inputs, filters, strides, head=head, n_outputs=n_outputs,
        units_per_level=checks.integer(units_per_level, "units_per_level", minimum=1),
        normalization=_normalization_kind(normalization),
        batch_norm_momentum=_momentum(batch_norm_momentum),
        downsampling=checks.option(downsampling, ("strided", "pool"), "downsampling"))
    return keras.Model(inputs, outputs, name=name or f"resnet_3d_{head}")
