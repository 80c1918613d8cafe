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

Which backend trains 3D convolutions faster on a CPU depends on the CPU (the README
quotes two 2-core machines that rank them in opposite orders); ``python
benchmarks/backends.py`` measures it on yours. The TensorBoard and
``tf.data`` parts of :mod:`course_utils.training` still need TensorFlow installed.

The models live in one module each (``unet``, ``resnet``, ``autoencoder``,
``super_resolution``) over shared blocks (``_blocks``); this package re-exports them.
"""

from course_utils.networks._blocks import (
    NORMALIZATIONS,
    Triple,
    check_levels,
    default_strides,
    normalization_layer,
    residual_unit_3d,
)
from course_utils.networks.autoencoder import autoencoder_3d
from course_utils.networks.resnet import RESNET_REFERENCE_FILTERS, resnet_3d
from course_utils.networks.super_resolution import LinearUpsampling3D, super_resolution_3d
from course_utils.networks.unet import (
    REFERENCE_FILTERS,
    block_table,
    residual_unet_3d,
    size_multiple,
)

__all__ = [
    "NORMALIZATIONS", "REFERENCE_FILTERS", "RESNET_REFERENCE_FILTERS", "LinearUpsampling3D", "Triple",
    "autoencoder_3d", "block_table", "check_levels", "default_strides", "normalization_layer",
    "residual_unet_3d", "residual_unit_3d", "resnet_3d", "size_multiple", "super_resolution_3d",
]
