"""Tests of the 07-10 models in course_utils.networks: ResNet, autoencoder, super-resolution."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from course_utils import networks  # noqa: E402
from course_utils.errors import ConfigError, ShapeError  # noqa: E402
from course_utils.networks.super_resolution import low_resolution  # noqa: E402

pytestmark = pytest.mark.slow  # overfits each application network on a tiny batch


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def _head_layers(model) -> set[str]:
    return {layer.name for layer in model.layers}


def test_resnet_heads_share_the_body():
    reg = networks.resnet_3d((16, 16, 16, 1), head="regression", filters=(4, 8, 16))
    cls = networks.resnet_3d((16, 16, 16, 1), head="classification", n_outputs=2,
                             filters=(4, 8, 16))
    assert reg.output_shape == (None, 1)
    assert cls.output_shape == (None, 2)
    assert _head_layers(reg) - _head_layers(cls) == {"prediction"}
    assert _head_layers(cls) - _head_layers(reg) == {"probabilities", "pooled_norm"}
    probs = cls.predict(np.random.rand(3, 16, 16, 16, 1).astype("float32"), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_classification_head_standardizes_the_pooled_vector_over_the_batch():
    """Lesson 08: each pooled feature is standardized over the scans before the softmax."""
    cls = networks.resnet_3d((8, 8, 8, 1), head="classification", n_outputs=2, filters=(4, 8),
                             normalization=None)
    pooled = keras.Model(cls.input, [cls.get_layer("global_pool").output,
                                     cls.get_layer("pooled_norm").output])
    scans = 1.0 + 0.5 * np.random.default_rng(0).standard_normal((6, 1, 1, 1, 1))
    raw, normed = (np.asarray(t) for t in pooled(np.ones((6, 8, 8, 8, 1), "float32")
                                                 * scans.astype("float32"), training=True))
    # the batch's own mean and variance, Keras' epsilon 1e-3, initial scale 1 and offset 0
    expected = (raw - raw.mean(axis=0)) / np.sqrt(raw.var(axis=0) + 1e-3)
    assert raw.std(axis=0).max() > 0.05  # the scans differ
    np.testing.assert_allclose(normed, expected, atol=1e-3)


def test_resnet_strides_downsample_and_any_input_size():
    model = networks.resnet_3d(head="regression", filters=(4, 8, 8), strides=(1, 2, (2, 2, 1)))
    assert model.get_layer("scale2_unit0_add").output.shape[-1] == 8
    out = model.predict(np.zeros((2, 12, 20, 9, 1), "float32"), verbose=0)
    assert out.shape == (2, 1)


def test_resnet_taught_assembly_is_the_model_resnet_3d_builds():
    """Lesson 07's code (resnet_scale, resnet_3d_outputs) is what resnet_3d wraps: same layers."""
    from course_utils.networks.resnet import resnet_3d_outputs

    inputs = keras.Input((16, 16, 16, 1))
    taught = keras.Model(inputs, resnet_3d_outputs(inputs, (4, 8), (1, 2), head="classification",
                                                   n_outputs=3, units_per_level=2))
    built = networks.resnet_3d((16, 16, 16, 1), head="classification", n_outputs=3,
                               filters=(4, 8), strides=(1, 2), units_per_level=2)
    assert [(la.name, la.count_params()) for la in taught.layers[1:]] == \
        [(la.name, la.count_params()) for la in built.layers[1:]]
    # scale 1: its first unit halves the grid, the second keeps it (identity shortcut)
    assert taught.get_layer("scale1_unit0_add").output.shape[1:] == (8, 8, 8, 8)
    assert taught.get_layer("scale1_unit1_add").output.shape[1:] == (8, 8, 8, 8)
    names = {la.name for la in taught.layers}
    assert "scale1_unit0_shortcut" in names and "scale1_unit1_shortcut" not in names


def test_resnet_bad_configuration():
    with pytest.raises(ConfigError, match="one output per class"):
        networks.resnet_3d(head="classification", n_outputs=1)
    with pytest.raises(ConfigError, match="one stride per level"):
        networks.resnet_3d(filters=(4, 8), strides=(1, 2, 2))
    with pytest.raises(ConfigError, match="regression"):
        networks.resnet_3d(head="segmentation")


@pytest.mark.parametrize(("build", "kwargs", "name"), [
    ("resnet_3d", {"filters": 16}, "filters"),  # was a TypeError
    ("resnet_3d", {"units_per_level": 0}, "units_per_level"),
    ("resnet_3d", {"batch_norm_momentum": -0.1}, "batch_norm_momentum"),
    ("resnet_3d", {"n_outputs": 0}, "n_outputs"),
    ("autoencoder_3d", {"input_shape": (8, 8, 8, 1), "latent_size": 0}, "latent_size"),
    ("autoencoder_3d", {"input_shape": (8, 8, 8, 1), "filters": 4}, "filters"),
    ("super_resolution_3d", {"factor": 0}, "factor"),
    ("super_resolution_3d", {"filters": (8, 8)}, "filters"),
    ("super_resolution_3d", {"n_layers": 1.5}, "n_layers"),
])
def test_bad_arguments_are_config_errors_naming_the_argument(build, kwargs, name):
    with pytest.raises(ConfigError) as err:
        getattr(networks, build)(**kwargs)
    assert err.value.name == name


def test_bad_input_shapes_are_shape_errors():
    with pytest.raises(ShapeError, match="input_shape"):
        networks.resnet_3d((16, 16, 1))
    with pytest.raises(ShapeError, match="input_shape"):
        networks.autoencoder_3d((None, 8, 8, 1))


def test_batch_norm_momentum_is_built_in_and_survives_save_load(tmp_path):
    """#15: the momentum used to be patched afterwards through model._flatten_layers."""
    resnet = networks.resnet_3d((8, 8, 8, 1), filters=(4, 8), units_per_level=2,
                                batch_norm_momentum=0.7)
    assert sum(layer.name.endswith("_add") for layer in resnet.layers) == 4  # 2 levels x 2 units
    auto = networks.autoencoder_3d((8, 8, 8, 1), latent_size=3, filters=(4, 4),
                                   batch_norm_momentum=0.6)
    for model, momentum in ((resnet, 0.7), (auto, 0.6)):
        model.save(tmp_path / f"{model.name}.keras")
        loaded = keras.models.load_model(tmp_path / f"{model.name}.keras")
        layers = [sub for layer in loaded.layers
                  for sub in (layer.layers if isinstance(layer, keras.Model) else [layer])]
        momenta = {lay.momentum for lay in layers
                   if isinstance(lay, keras.layers.BatchNormalization)}
        assert momenta == {momentum}
    assert networks.size_multiple(auto) == (4, 4, 4)


def test_resnet_overfits_a_tiny_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 0, 1], "int32")
    model = networks.resnet_3d(x.shape[1:], head="classification", n_outputs=2, filters=(4, 8))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  jit_compile=False)
    history = model.fit(x, y, batch_size=4, epochs=25, verbose=0)
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]


def test_autoencoder_shapes_and_submodels():
    model = networks.autoencoder_3d((16, 24, 16, 3), latent_size=7, filters=(4, 8, 8))
    assert model.output_shape == (None, 16, 24, 16, 3)
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    x = np.random.rand(2, 16, 24, 16, 3).astype("float32")
    code = encoder.predict(x, verbose=0)
    assert code.shape == (2, 7)
    np.testing.assert_allclose(decoder.predict(code, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)


def test_autoencoder_rejects_sizes_that_do_not_halve():
    with pytest.raises(ShapeError, match=r"axis y has 20 voxels.*multiple of 8.*crop"):
        networks.autoencoder_3d((16, 20, 16, 1), filters=(4, 8, 8))


def test_autoencoder_overfits_a_tiny_batch():
    rng = np.random.default_rng(1)
    x = ndimage.gaussian_filter(rng.normal(size=(2, 8, 8, 8, 2)), (0, 1, 1, 1, 0)).astype("float32")
    x /= x.std()
    model = networks.autoencoder_3d(x.shape[1:], latent_size=8, filters=(8, 8))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", jit_compile=False)
    history = model.fit(x, x, batch_size=2, epochs=50, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]


@pytest.mark.parametrize("factor", [2, 4])
def test_linear_upsampling_matches_scipy_and_tf(factor):
    x = np.random.default_rng(2).random((2, 5, 6, 3, 2)).astype("float32")
    up = networks.LinearUpsampling3D(factor)(x)
    up = np.asarray(up)
    assert up.shape == (2, 5 * factor, 6 * factor, 3 * factor, 2)
    scipy_ref = ndimage.zoom(x[1, ..., 0], factor, order=1, grid_mode=True, mode="nearest")
    np.testing.assert_allclose(up[1, ..., 0], scipy_ref, atol=1e-5)
    # TensorFlow's bilinear resize on (z, y), then on x, is an independent trilinear reference.
    zy = tf.image.resize(np.moveaxis(x, 3, 1).reshape(2 * 3, 5, 6, 2),
                         (5 * factor, 6 * factor), method="bilinear")
    zy = np.moveaxis(np.asarray(zy).reshape(2, 3, 5 * factor, 6 * factor, 2), 1, 3)
    flat = zy.reshape(2 * 5 * factor, 6 * factor, 3, 2)
    full = tf.image.resize(flat, (6 * factor, 3 * factor), method="bilinear")
    tf_ref = np.asarray(full).reshape(up.shape)
    np.testing.assert_allclose(up, tf_ref, atol=1e-5)


def test_super_resolution_starts_as_trilinear_and_learns():
    rng = np.random.default_rng(3)
    high = ndimage.gaussian_filter(rng.normal(size=(4, 12, 12, 12)), 1.0)
    high = np.sign(high).astype("float32")[..., None]  # sharp edges that trilinear blurs
    low = np.asarray(low_resolution(high, 4))  # DLTK's degradation, as lesson 10 trains on
    model = networks.super_resolution_3d(factor=4, filters=8, n_layers=2)
    untrained = model.predict(low, verbose=0)
    assert untrained.shape == high.shape
    np.testing.assert_allclose(untrained, networks.LinearUpsampling3D(4)(low), atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", jit_compile=False)
    before = float(np.mean((untrained - high) ** 2))
    model.fit(low, high, batch_size=4, epochs=30, verbose=0)
    after = float(np.mean((model.predict(low, verbose=0) - high) ** 2))
    assert after < 0.97 * before
