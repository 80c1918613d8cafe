"""The convolutional 3D autoencoder of lesson 09 (taught there; tools/taught.py keeps the copies identical)."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from course_utils import checks
from course_utils.errors import ShapeError
from course_utils.networks._blocks import _input_shape, _momentum


def autoencoder_arguments(input_shape: Sequence[int], latent_size: int, filters: Sequence[int],
                          batch_norm_momentum: float) -> tuple:
    """The arguments of :func:`autoencoder_3d`, checked: (input_shape, latent_size, filters, momentum).

    Parameters: ``input_shape``, ``latent_size``, ``filters``, ``batch_norm_momentum``: as
    :func:`autoencoder_3d`'s. A bad value raises ConfigError naming the argument; spatial
    sizes that do not halve ``len(filters)`` times raise ShapeError.
    """
    input_shape = _input_shape(input_shape, "autoencoder_3d", False)
    filters = checks.int_list(filters, "filters", example="[8, 16, 32]")
    latent_size = checks.integer(latent_size, "latent_size", minimum=1)
    multiple = 2 ** len(filters)
    for axis, n in zip("zyx", input_shape[:3], strict=True):
        if n % multiple:
            raise ShapeError(
                f"autoencoder_3d: axis {axis} has {n} voxels (input shape {input_shape}), not a "
                f"multiple of {multiple} = 2 ** len(filters); crop the volumes first "
                f"(applications.crop_to_multiple(images, {multiple})) or use fewer filters"
            )
    return input_shape, latent_size, filters, _momentum(batch_norm_momentum)


def conv_norm_act(x, filters: int, name: str, momentum: float = 0.99):
    """3x3x3 convolution, batch normalisation, ReLU (layers ``{name}_conv``, ``_norm``, ``_act``).

    Parameters: ``x``: the input tensor; ``filters``: output channels; ``name``: the
    layers' prefix; ``momentum``: of the batch normalisation's running statistics.
    """
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

    Parameters: ``input_shape``: (z, y, x, channels), spatial sizes multiples of
    ``2 ** len(filters)``; ``latent_size``: length of the code; ``filters``: channels after
    each halving of the grid; ``batch_norm_momentum``: of the batch normalisations;
    ``name``: the model's. The halves are sub-models: ``model.get_layer("encoder")`` maps
    volumes to codes, ``model.get_layer("decoder")`` codes to volumes. Train with MSE.
    """
    input_shape, latent_size, filters, momentum = autoencoder_arguments(
        input_shape, latent_size, filters, batch_norm_momentum)
    # Encoder: halve the grid once per entry of `filters`, then one dense layer -> the code.
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, f in enumerate(filters):
        x = keras.layers.AveragePooling3D(2, name=f"enc{i}_pool")(x)
        x = conv_norm_act(x, f, f"enc{i}", momentum)
    bottleneck = tuple(int(n) for n in x.shape[1:])  # the smallest grid and its channels
    code = keras.layers.Dense(latent_size, name="code")(keras.layers.Flatten(name="flatten")(x))
    encoder = keras.Model(inputs, code, name="encoder")

    # Decoder: the mirror image, from the code back to the bottleneck grid, then doubling it.
    code_in = keras.Input(shape=(latent_size,), name="code_in")
    y = keras.layers.Dense(int(np.prod(bottleneck)), activation="relu", name="expand")(code_in)
    y = keras.layers.Reshape(bottleneck, name="unflatten")(y)
    for i in reversed(range(1, len(filters))):
        y = keras.layers.UpSampling3D(2, name=f"dec{i}_up")(y)
        y = conv_norm_act(y, filters[i - 1], f"dec{i}", momentum)
    # The last doubling goes straight to the output sequences (a wide convolution at full
    # resolution would cost most of the compute). Zero weights: an untrained model returns 0.
    y = keras.layers.UpSampling3D(2, name="dec0_up")(y)
    recon = keras.layers.Conv3D(input_shape[-1], 3, padding="same", kernel_initializer="zeros",
                                name="reconstruction", dtype="float32")(y)
    decoder = keras.Model(code_in, recon, name="decoder")
    return keras.Model(inputs, decoder(encoder(inputs)), name=name)
