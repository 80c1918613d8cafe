"""Presets and parameter resolution, paths, and seeding."""

import copy
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest

from course_utils import config
from course_utils.errors import ConfigError, CourseError


@pytest.fixture(autouse=True)
def _no_preset_env(monkeypatch):
    monkeypatch.delenv("COURSE_PRESET", raising=False)


def test_default_preset_is_binder():
    p = config.resolve("06_segmentation")
    assert p.preset == "binder"
    assert p.epochs == config.NOTEBOOKS["06_segmentation"]["binder"]["epochs"]
    assert p.spacing == config.COMMON["binder"]["spacing"]


def test_environment_variable_picks_the_preset(monkeypatch):
    monkeypatch.setenv("COURSE_PRESET", "ci")
    p = config.resolve("06_segmentation")
    assert p.preset == "ci"
    assert p.n_subjects == config.COMMON["ci"]["n_subjects"]


def test_explicit_parameters_win_over_environment_and_defaults(monkeypatch):
    monkeypatch.setenv("COURSE_PRESET", "ci")
    p = config.resolve("06_segmentation", preset="full", epochs=3, batch_size=None)
    assert p.preset == "full"  # papermill's -p preset beats COURSE_PRESET
    assert p.epochs == 3  # an explicit knob beats the preset
    assert p.batch_size == config.NOTEBOOKS["06_segmentation"]["full"]["batch_size"]  # None = default


def test_unknown_preset_lists_the_valid_ones_and_suggests_the_closest(monkeypatch):
    with pytest.raises(ConfigError, match="'ci', 'binder', 'full'") as info:
        config.resolve("00_setup", preset="laptop")
    assert info.value.name == "preset"
    with pytest.raises(ConfigError, match="did you mean 'binder'"):
        config.resolve("00_setup", preset="bindr")
    monkeypatch.setenv("COURSE_PRESET", "huge")
    with pytest.raises(ConfigError, match="unknown preset 'huge'"):
        config.resolve("00_setup")


def test_unknown_knob_lists_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        config.resolve("06_segmentation", epoch=3)
    message = str(info.value)
    assert "did you mean 'epochs'" in message and "patch_size" in message
    assert info.value.name == "epoch"


def test_unknown_notebook_suggests_the_closest():
    with pytest.raises(ConfigError, match="did you mean '06_segmentation'"):
        config.resolve("06_segmentaton")


def test_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="epochs must be a whole number >= 1"):
        config.resolve("06_segmentation", epochs="ten")
    assert isinstance(ConfigError("x"), CourseError)


# Issue #14: values of the right type but outside their range were accepted, and
# filters=16 failed later with "TypeError: 'int' object is not iterable".
@pytest.mark.parametrize("notebook, knob, value, says", [
    ("06_segmentation", "patch_size", -3, ">= 1"),
    ("06_segmentation", "epochs", 2.5, ">= 1"),
    ("06_segmentation", "overlap", 1.5, "in [0, 1)"),
    ("06_segmentation", "learning_rate", -0.001, "in (0, 1]"),
    ("06_segmentation", "n_subjects", -5, ">= 10"),
    ("06_segmentation", "filters", 16, "a list of whole numbers"),
    ("06_segmentation", "augment", 1, "True or False"),
    ("06_segmentation", "window", [48, 48], "three of them"),
    ("00_setup", "dataset", "synthtic", "did you mean 'synthetic'"),
    ("06_segmentation", "dataset", "ixi", "label maps"),  # IXI has no label maps
    ("07_age_regression", "dataset", "mrbrains13", "needs ages"),  # nor MRBrainS13 ages
    ("07_age_regression", "test_crops", 12, "in [1, 9]"),
    ("03_normalization", "reg_sampling", 0, "in (0, 1]"),
    ("05_class_balancing", "patch_size", [16, 16, 24], "whole number >= 1"),  # a cube
    ("10_super_resolution", "filters", [16, 32], "whole number >= 1"),
])
def test_values_out_of_range_are_refused_naming_the_knob_and_range(notebook, knob, value, says):
    with pytest.raises(ConfigError) as info:
        config.resolve(notebook, preset="ci", **{knob: value})
    assert info.value.name == knob
    assert knob in str(info.value) and says in str(info.value)


def test_every_knob_has_one_declaration_and_every_preset_value_passes_it():
    names = set().union(*config.COMMON.values())
    for presets in config.NOTEBOOKS.values():
        for knobs in presets.values():
            names |= set(knobs)
    assert names == set(config.KNOBS), "declare each knob once in config.KNOBS (and no more)"
    for notebook, declared in config.NOTEBOOK_KNOBS.items():
        assert set(declared) <= set(config.preset_defaults(notebook, "ci")), notebook
    for notebook in config.NOTEBOOKS:
        for preset in config.PRESET_NAMES:
            defaults = config.preset_defaults(notebook, preset)
            for name, value in defaults.items():
                assert config.knob(notebook, name)(value, name) == value, (notebook, name)


def test_the_datasets_are_the_registry_ones():
    from course_utils import data

    assert config.DATASETS == data.DATASETS


def test_sizes_take_one_number_or_three_where_the_notebook_does():
    p = config.resolve("06_segmentation", preset="ci", patch_size=[16, 24, 24], window=32.0)
    assert p.patch_size == [16, 24, 24] and p.window == 32 and isinstance(p.window, int)
    assert config.resolve("10_super_resolution", preset="ci", crop_size=24).crop_size == [24] * 3
    assert config.resolve("02_io_benchmark", preset="ci",
                          example_shape=(8, 16, 16)).example_shape == [8, 16, 16]


def test_float_knob_accepts_an_int_and_lists_stay_lists():
    p = config.resolve("06_segmentation", preset="ci", spacing=3, filters=(4, 8))
    assert p.spacing == 3.0 and isinstance(p.spacing, float)
    assert p.filters == [4, 8]


def test_every_notebook_has_the_same_knobs_in_every_preset():
    for name, presets in config.NOTEBOOKS.items():
        assert set(presets) == set(config.PRESET_NAMES), name
        keys = {preset: set(knobs) for preset, knobs in presets.items()}
        assert keys["ci"] == keys["binder"] == keys["full"], name


def test_params_attribute_error_names_valid_knobs():
    p = config.resolve("00_setup", preset="ci")
    with pytest.raises(AttributeError, match="seed"):
        _ = p.nope


def test_params_is_a_bunch_that_carries_its_own_run_clock():
    from sklearn.utils import Bunch

    before = time.perf_counter()
    p = config.resolve("00_setup", preset="ci")
    assert isinstance(p, Bunch) and p["seed"] == p.seed == 42
    assert before <= p.started <= time.perf_counter()
    assert "started" not in p  # not a knob: run folders hash the knobs only
    assert copy.deepcopy(p).started == p.started == pickle.loads(pickle.dumps(p)).started
    assert not hasattr(config, "_START_TIME") and not hasattr(config, "start_time")
    assert type(p) is config.Params


def test_importing_config_does_not_import_scikit_learn():
    # scikit-learn (scipy.stats) costs ~1.6 s of CPU; the report runner and data workers
    # import config without resolving anything
    out = subprocess.run([sys.executable, "-c", "import sys, course_utils.config; "
                          "print('sklearn' in sys.modules)"], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_data_and_reports_dirs_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path / "r"))
    assert config.data_dir() == tmp_path / "d"
    assert config.reports_dir() == tmp_path / "r"
    monkeypatch.delenv("COURSE_DATA_DIR")
    monkeypatch.delenv("COURSE_REPORTS_DIR")
    root = config.repo_root()
    assert root is not None and (root / "pyproject.toml").exists()
    assert config.data_dir() == root / "data"  # independent of the working directory
    assert config.reports_dir() == root / "reports"


def _train_once(seed):
    import keras

    config.seed_everything(seed)
    x = np.random.normal(size=(16, 4)).astype("float32")
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dropout(0.3), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, batch_size=4, shuffle=True, verbose=0)
    return np.concatenate([w.ravel() for w in model.get_weights()])


def test_seed_everything_makes_training_repeatable():
    a, b, c = _train_once(1), _train_once(1), _train_once(2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("given, expected", [(None, "1"), ("3", "3")])
def test_cpu_machines_run_one_tensorflow_op_at_a_time_unless_told(given, expected):
    # Several 3D-convolution gradients at once nearly double a training step's
    # memory on a CPU (benchmarks/training_memory.py); a user's setting wins.
    if os.path.exists("/proc/driver/nvidia"):
        pytest.skip("this machine has an NVIDIA driver: the default is left to TensorFlow")
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTEROP_THREADS"}
    if given is not None:
        env["TF_NUM_INTEROP_THREADS"] = given
    out = subprocess.run(
        [sys.executable, "-c", "import os, course_utils; print(os.environ['TF_NUM_INTEROP_THREADS'])"],
        capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == expected
