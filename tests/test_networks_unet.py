"""Tests of the residual 3D U-Net section of course_utils.networks."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from course_utils import networks
from course_utils.errors import ConfigError


def test_unet_output_is_a_probability_map_of_the_input_size():
    model = networks.residual_unet_3d(n_classes=5, n_channels=3, filters=(4, 8, 16))
    x = np.random.default_rng(0).normal(size=(2, 16, 24, 8, 3)).astype("float32")
    y = np.asarray(model.predict_on_batch(x))
    assert y.shape == (2, 16, 24, 8, 5)
    np.testing.assert_allclose(y.sum(-1), 1, atol=1e-5)
    assert networks.size_multiple(model) == (4, 4, 4)


def test_anisotropic_strides_and_depth():
    strides = [(1, 1, 1), (1, 2, 2), (2, 2, 2)]
    model = networks.residual_unet_3d(n_classes=2, n_channels=1, filters=(4, 8, 8),
                                      strides=strides, units_per_level=2, output_activation=None)
    assert networks.size_multiple(model) == networks.size_multiple(strides) == (2, 4, 4)
    y = np.asarray(model.predict_on_batch(np.zeros((1, 6, 8, 12, 1), "float32")))
    assert y.shape == (1, 6, 8, 12, 2)
    names = [layer.name for layer in model.layers]
    # 3 encoder levels and 2 decoder levels, 2 residual units each
    assert sum(n.endswith("_add") for n in names) == 10
    assert {"init_conv", "enc2_unit0_conv1", "dec0_upsample", "dec0_concat", "logits"} <= set(names)
    assert "probabilities" not in names
    encoder_deepest = model.get_layer("enc2_unit0_add").output.shape
    assert encoder_deepest[1:] == (None, None, None, 8)


def test_reference_configuration_has_the_dltk_filters():
    model = networks.residual_unet_3d(filters=networks.REFERENCE_FILTERS, patch_size=32)
    assert model.input_shape == (None, 32, 32, 32, 3)
    assert model.get_layer("enc3_unit0_add").output.shape == (None, 4, 4, 4, 128)
    assert model.output_shape == (None, 32, 32, 32, 5)


@pytest.mark.parametrize("downsampling", ["strided", "pool"])
def test_residual_unit_parameters_and_downsampling_match_hand_count(downsampling):
    inputs = keras.Input((9, 10, 11, 4))
    out = networks.residual_unit_3d(inputs, 8, strides=2, name="u", downsampling=downsampling)
    model = keras.Model(inputs, out)
    # norm1 4x4, conv1 27*4*8+8, norm2 4x8, conv2 27*8*8+8, 1x1x1 shortcut 4*8+8
    assert model.count_params() == 16 + 872 + 32 + 1736 + 40
    assert out.shape[1:] == (5, 5, 6, 8)  # ceil(n / 2)


def test_pooled_shortcut_is_average_pooling():
    inputs = keras.Input((8, 8, 8, 2))
    model = keras.Model(inputs, networks.residual_unit_3d(inputs, 2, strides=2, name="u",
                                                          normalization=None, activation="linear",
                                                          downsampling="pool"))
    assert "u_shortcut" not in [layer.name for layer in model.layers]  # same channels
    conv2 = model.get_layer("u_conv2")
    conv2.set_weights([np.zeros_like(w) for w in conv2.get_weights()])
    x = np.random.default_rng(4).normal(size=(1, 8, 8, 8, 2)).astype("float32")
    blocks = x.reshape(1, 4, 2, 4, 2, 4, 2, 2).mean(axis=(2, 4, 6))  # 2x2x2 block means
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(x)), blocks, atol=1e-5)


@pytest.mark.parametrize("resampling", [("pool", "nearest"), ("strided", "transposed")])
def test_both_resampling_variants_give_the_same_shapes(resampling):
    down, up = resampling
    model = networks.residual_unet_3d(n_classes=3, n_channels=1, filters=(4, 8), patch_size=8,
                                      downsampling=down, upsampling=up)
    assert model.get_layer("dec0_upsample").output.shape == (None, 8, 8, 8, 4)
    assert networks.size_multiple(model) == (2, 2, 2)


def test_default_decoder_upsamples_nearest_as_documented():
    model = networks.residual_unet_3d(n_classes=2, n_channels=1, filters=(4, 8))
    assert isinstance(model.get_layer("dec0_upsample"), keras.layers.UpSampling3D)
    doc = " ".join(networks.residual_unet_3d.__doc__.split())
    assert "nearest" in doc and "upsamples with transposed convolutions" not in doc  # #15


def test_residual_unit_is_identity_when_its_branch_is_zero():
    inputs = keras.Input((6, 6, 6, 4))
    model = keras.Model(inputs, networks.residual_unit_3d(inputs, 4, name="u"))
    assert "u_shortcut" not in [layer.name for layer in model.layers]
    conv2 = model.get_layer("u_conv2")
    conv2.set_weights([np.zeros_like(w) for w in conv2.get_weights()])
    x = np.random.default_rng(1).normal(size=(1, 6, 6, 6, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(model.predict_on_batch(x)), x, atol=1e-6)


def test_bad_configurations_are_config_errors():
    with pytest.raises(ConfigError, match="one stride per level"):
        networks.residual_unet_3d(filters=(4, 8), strides=[1, 2, 2])
    with pytest.raises(ConfigError, match="multiple of"):
        networks.residual_unet_3d(filters=(4, 8, 16), patch_size=30)
    with pytest.raises(ConfigError, match="normalization"):
        networks.residual_unet_3d(filters=(4,), normalization="layer-ish")


@pytest.mark.parametrize(("kwargs", "name"), [({"filters": 16}, "filters"),  # was a TypeError
                                              ({"filters": (4, 0)}, "filters"),
                                              ({"filters": (4, 8), "strides": 2}, "strides"),
                                              ({"patch_size": -3}, "patch_size"),
                                              ({"units_per_level": 0}, "units_per_level"),
                                              ({"n_classes": 2.5}, "n_classes"),
                                              ({"batch_norm_momentum": 1.5}, "batch_norm_momentum"),
                                              ({"upsampling": "bilinear"}, "upsampling"),
                                              ({"downsampling": "max"}, "downsampling")])
def test_bad_arguments_are_config_errors_naming_the_argument(kwargs, name):
    with pytest.raises(ConfigError) as err:
        networks.residual_unet_3d(**kwargs)
    assert err.value.name == name


def test_save_load_round_trip_keeps_predictions_size_multiple_and_momentum(tmp_path):
    """#15: the size multiple was a monkey-patched attribute that load_model lost."""
    model = networks.residual_unet_3d(n_classes=3, n_channels=1, filters=(4, 8, 8),
                                      strides=[1, (1, 2, 2), 2], batch_norm_momentum=0.8)
    x = np.random.default_rng(5).normal(size=(1, 4, 8, 8, 1)).astype("float32")
    model.save(tmp_path / "unet.keras")
    loaded = keras.models.load_model(tmp_path / "unet.keras")
    np.testing.assert_allclose(np.asarray(loaded.predict_on_batch(x)),
                               np.asarray(model.predict_on_batch(x)), atol=1e-6)
    assert networks.size_multiple(loaded) == networks.size_multiple(model) == (2, 4, 4)
    momenta = {layer.momentum for layer in loaded.layers
               if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta == {0.8}


def test_softmax_stays_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = networks.residual_unet_3d(filters=(4, 8))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("enc0_unit0_conv1").compute_dtype == "float16"
    assert model.output.dtype == "float32"


def test_models_use_no_tensorflow_calls():
    tree = ast.parse(inspect.getsource(networks))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}
    assert "tensorflow" not in imported
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == "tf"]
    # and no private Keras API (the momentum used to be patched through _flatten_layers)
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                and n.attr.startswith("_") and not n.attr.startswith("__")]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_unet_runs_on_the_torch_backend():
    code = ("import numpy as np; from course_utils import networks; "
            "m = networks.residual_unet_3d(n_classes=3, filters=(4, 8)); "
            "y = m.predict_on_batch(np.zeros((1, 8, 8, 8, 3), 'float32')); print(tuple(y.shape))")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert "(1, 8, 8, 8, 3)" in out.stdout


def test_taught_pieces_encoder_skips_halve_and_decoder_returns_to_full_size():
    """The functions lesson 06 teaches: one skip per level (finest first), back to the input size."""
    from course_utils.networks import unet

    inputs = keras.Input((16, 24, 8, 2))
    options = {"normalization": "batch", "downsampling": "pool", "batch_norm_momentum": 0.9}
    strides = [(1, 1, 1), (2, 2, 2), (2, 2, 1)]
    skips = unet.unet_encoder(inputs, [4, 8, 16], strides, 1, options)
    assert [tuple(s.shape[1:]) for s in skips] == [(16, 24, 8, 4), (8, 12, 4, 8), (4, 6, 4, 16)]
    out = unet.unet_decoder(skips, [4, 8, 16], strides, 1, "nearest", options)
    assert tuple(out.shape[1:]) == (16, 24, 8, 4)
    probs = unet.unet_outputs(inputs, 3, [4, 8, 16], strides, 1, "transposed",
                              {**options, "downsampling": "strided"}, "softmax")
    assert tuple(probs.shape[1:]) == (16, 24, 8, 3)


def test_block_table_shows_the_shapes_a_real_input_gets():
    # Issue #13: every output shape was (None, None, None, C): a fully convolutional model's
    # layers have no size. The table's shapes must be those a real batch of that size gets.
    model = networks.residual_unet_3d(n_classes=3, n_channels=2, filters=(4, 8, 16),
                                      strides=[(1, 1, 1), (1, 2, 2), (2, 2, 2)])
    size = (8, 16, 12)
    table = networks.block_table(model, size).set_index("block")
    layers = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    probe = keras.Model(model.inputs, [la.output for la in layers])
    outputs = probe.predict_on_batch(np.zeros((1, *size, 2), "float32"))
    real = {}  # block -> the shape its last layer gave the real batch
    for layer, out in zip(layers, outputs, strict=True):
        parts = layer.name.split("_")
        real["_".join(parts[:2]) if parts[0] in ("enc0", "enc1", "enc2", "dec0", "dec1")
             else layer.name] = out.shape[1:]
    assert {block: table.loc[block, "output shape"] for block in real} == real
    assert table.loc["input", "output shape"] == (*size, 2)
    assert table.loc["enc2_unit0", "output shape"] == (4, 4, 3, 16)  # z halved once, y and x twice
    assert table["params"].sum() == model.count_params()
    smallest = networks.block_table(model)  # no size given: the smallest the model takes
    assert smallest.set_index("block").loc["input", "output shape"] == (2, 4, 4, 2)
    with pytest.raises(ConfigError) as err:
        networks.block_table(model, (8, 16, 10))
    assert err.value.name == "input_size" and "(2, 4, 4)" in str(err.value)
