"""Building blocks shared by the course's networks: normalisation, the residual unit, input checks."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from course_utils import checks
from course_utils.errors import ConfigError, ShapeError

Triple = tuple[int, int, int]

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
    ``kernel_size`` of both convolutions; ``normalization`` ``"batch"``, ``"instance"`` or
    None; ``activation`` a Keras activation name; ``downsampling`` ``"strided"`` puts the
    strides on the first convolution (as DLTK did), ``"pool"`` average-pools first and
    convolves at the lower resolution (same shapes; about twice as fast to train with
    TensorFlow on a CPU); ``batch_norm_momentum`` of batch normalisation.
    """
    strides = checks.triple(strides, "strides")
    pool = checks.option(downsampling, ("strided", "pool"), "downsampling") == "pool"
    pool = pool and strides != (1, 1, 1)
    # the residual branch: normalise, activate, convolve; twice
    y = normalization_layer(normalization, f"{name}_norm1", batch_norm_momentum)(x)
    y = keras.layers.Activation(activation, name=f"{name}_act1")(y)
    if pool:  # downsample first, then convolve on 8 times fewer voxels
        y = keras.layers.AveragePooling3D(strides, padding="same", name=f"{name}_pool")(y)
    y = keras.layers.Conv3D(filters, kernel_size, strides=1 if pool else strides, padding="same",
                            name=f"{name}_conv1")(y)
    y = normalization_layer(normalization, f"{name}_norm2", batch_norm_momentum)(y)
    y = keras.layers.Activation(activation, name=f"{name}_act2")(y)
    y = keras.layers.Conv3D(filters, kernel_size, padding="same", name=f"{name}_conv2")(y)
    # the shortcut: the input itself, reshaped only where the branch changed the shape
    shortcut = x
    if pool:
        shortcut = keras.layers.AveragePooling3D(strides, padding="same",
                                                 name=f"{name}_shortcut_pool")(shortcut)
    if (strides != (1, 1, 1) and not pool) or x.shape[-1] != filters:  # a 1x1x1 convolution
        shortcut = keras.layers.Conv3D(filters, 1, strides=1 if pool else strides,
                                       padding="same", name=f"{name}_shortcut")(shortcut)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


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
