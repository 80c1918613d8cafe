"""Presets, parameters, paths and seeds: the one place where a notebook's knobs come from.

Every notebook has a papermill ``parameters`` cell whose values default to
``None``, then calls :func:`resolve`. Values are merged in this order, later
ones winning:

1. the preset's defaults (``ci``, ``binder`` or ``full``);
2. the ``COURSE_PRESET`` environment variable, which picks the preset when the
   notebook does not (this is how CI runs every notebook at ``ci`` with nbval);
3. parameters set in the notebook or injected by papermill (``-p epochs 3``).

An unknown preset or knob raises :class:`~course_utils.errors.ConfigError`
listing the valid ones.
"""

from __future__ import annotations

import copy
import os
import random
import time
from pathlib import Path
from typing import Any

from course_utils.errors import ConfigError

# The course's public repository: the one place its address is set. Badges in
# the notebooks and README, the Colab setup cell and binder/ are checked
# against it by tests/test_skeleton.py (tools/sync_badges.py rewrites them).
REPOSITORY = "biomedia-course/dl3d-tensorflow"
BRANCH = "main"

PRESET_NAMES = ("ci", "binder", "full")
DEFAULT_PRESET = "binder"

# Knobs every notebook understands.
COMMON: dict[str, dict[str, Any]] = {
    "ci": {"dataset": "synthetic", "seed": 42, "n_subjects": 24, "spacing": 4.0},
    "binder": {"dataset": "synthetic", "seed": 42, "n_subjects": 40, "spacing": 2.0},
    "full": {"dataset": "synthetic", "seed": 42, "n_subjects": 200, "spacing": 1.0},
}

# 07 and 08 share every knob: only the head and the loss differ (see notebook 08).
_RESNET_KNOBS: dict[str, dict[str, Any]] = {
    "ci": {"epochs": 10, "steps_per_epoch": 15, "batch_size": 4, "filters": [8, 16, 32],
           "strides": [2, 2, 2], "crop_size": [44, 52, 44], "test_crops": 3,
           "learning_rate": 0.003},
    "binder": {"epochs": 15, "steps_per_epoch": 20, "batch_size": 4,
               "filters": [8, 16, 32, 64], "strides": [2, 2, 2, 2],
               "crop_size": [72, 88, 80], "test_crops": 5, "learning_rate": 0.002},
    "full": {"epochs": 100, "steps_per_epoch": 100, "batch_size": 8,
             "filters": [16, 32, 64, 128, 256], "strides": [1, 2, 2, 2, 2],
             "crop_size": [144, 176, 160], "test_crops": 9, "learning_rate": 0.001},
}

# Knobs of each notebook, per preset. Keys are notebook stems.
# Each lesson owns its own section; keep the three presets' keys identical.
NOTEBOOKS: dict[str, dict[str, dict[str, Any]]] = {
    # --- 00 setup --------------------------------------------------------
    "00_setup": {"ci": {}, "binder": {}, "full": {}},
    # --- 01 headers ------------------------------------------------------
    "01_headers_and_physical_space": {
        "ci": {"n_table": 8, "subject": 0},
        "binder": {"n_table": 12, "subject": 0},
        "full": {"n_table": 12, "subject": 0},
    },
    # --- 02 io benchmark -------------------------------------------------
    # The reference workload is 128x224x224x1, batch 5, 100 iterations (full);
    # n_volumes: synthetic volumes written for the benchmark; repeats: timed rounds.
    "02_io_benchmark": {
        "ci": {"example_shape": [32, 56, 56], "batch_size": 5, "iterations": 20,
               "n_volumes": 10, "repeats": 3},
        "binder": {"example_shape": [64, 112, 112], "batch_size": 5, "iterations": 50,
                   "n_volumes": 20, "repeats": 3},
        "full": {"example_shape": [128, 224, 224], "batch_size": 5, "iterations": 100,
                 "n_volumes": 40, "repeats": 3},
    },
    # --- 03 normalisation ------------------------------------------------
    "03_normalization": {
        # n_hist: subjects in the histograms; n_registered: subjects registered to MNI152
        "ci": {"n_hist": 8, "n_registered": 6, "reg_iterations": 50, "reg_sampling": 0.1},
        "binder": {"n_hist": 12, "n_registered": 8, "reg_iterations": 100, "reg_sampling": 0.05},
        "full": {"n_hist": 40, "n_registered": 20, "reg_iterations": 200, "reg_sampling": 0.05},
    },
    # --- 04 augmentation -------------------------------------------------
    "04_augmentation": {
        # n_volumes: volumes streamed through tf.data; repeats: timing repeats per augmentation
        "ci": {"n_volumes": 8, "repeats": 1, "elastic_mm": 6.0, "rotation_degrees": 10.0},
        "binder": {"n_volumes": 8, "repeats": 3, "elastic_mm": 6.0, "rotation_degrees": 10.0},
        "full": {"n_volumes": 24, "repeats": 3, "elastic_mm": 6.0, "rotation_degrees": 10.0},
    },
    # --- 05 class balancing ----------------------------------------------
    "05_class_balancing": {
        # steps: training steps per sampler/loss combination; freq_batches: batches counted
        "ci": {"patch_size": 16, "batch_size": 4, "steps": 30, "filters": 8,
               "learning_rate": 0.005, "freq_batches": 50},
        "binder": {"patch_size": 24, "batch_size": 4, "steps": 150, "filters": 8,
                   "learning_rate": 0.005, "freq_batches": 200},
        "full": {"patch_size": 48, "batch_size": 4, "steps": 3000, "filters": 16,
                 "learning_rate": 0.005, "freq_batches": 500},
    },
    # --- 06 segmentation -------------------------------------------------
    "06_segmentation": {
        "ci": {"patch_size": 24, "batch_size": 4, "epochs": 4, "steps_per_epoch": 15,
               "filters": [8, 16, 32], "learning_rate": 0.01, "patches_per_volume": 8,
               "augment": True, "window": 48, "overlap": 0.5, "restart": False},
        "binder": {"patch_size": 32, "batch_size": 2, "epochs": 8, "steps_per_epoch": 80,
                   "filters": [8, 16, 32, 64], "learning_rate": 0.005, "patches_per_volume": 8,
                   "augment": True, "window": 64, "overlap": 0.5, "restart": False},
        "full": {"patch_size": 64, "batch_size": 8, "epochs": 100, "steps_per_epoch": 200,
                 "filters": [16, 32, 64, 128], "learning_rate": 0.001,
                 "patches_per_volume": 8, "augment": True, "window": 128, "overlap": 0.5,
                 "restart": False},
    },
    # --- 07 age regression / 08 sex classification ------------------------
    "07_age_regression": _RESNET_KNOBS,
    "08_sex_classification": _RESNET_KNOBS,
    # --- 09 representation learning ----------------------------------------
    "09_representation_learning": {
        "ci": {"epochs": 8, "steps_per_epoch": 6, "batch_size": 4, "latent_size": 32,
               "filters": [8, 16, 32], "learning_rate": 0.002, "raw_factor": 4,
               "input_factor": 1},
        "binder": {"epochs": 25, "steps_per_epoch": 12, "batch_size": 4, "latent_size": 64,
                   "filters": [8, 16, 32], "learning_rate": 0.002, "raw_factor": 4,
                   "input_factor": 2},
        "full": {"epochs": 200, "steps_per_epoch": 25, "batch_size": 8, "latent_size": 256,
                 "filters": [16, 32, 64, 128], "learning_rate": 0.001, "raw_factor": 8,
                 "input_factor": 1},
    },
    # --- 10 super-resolution -----------------------------------------------
    "10_super_resolution": {
        "ci": {"epochs": 6, "steps_per_epoch": 10, "batch_size": 4, "factor": 4,
               "crop_size": [24, 24, 24], "filters": 16, "n_layers": 3,
               "learning_rate": 0.002},
        "binder": {"epochs": 15, "steps_per_epoch": 25, "batch_size": 4, "factor": 4,
                   "crop_size": [40, 40, 40], "filters": 16, "n_layers": 4,
                   "learning_rate": 0.002},
        "full": {"epochs": 100, "steps_per_epoch": 200, "batch_size": 8, "factor": 4,
                 "crop_size": [64, 64, 64], "filters": 32, "n_layers": 6,
                 "learning_rate": 0.001},
    },
}

_START_TIME: float | None = None


def colab_url(notebook_path: str) -> str:
    """The Open-in-Colab address of a notebook (path relative to the repository root)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook_path}"


def binder_url(notebook_path: str) -> str:
    """The Launch-Binder address that opens a notebook in JupyterLab."""
    quoted = notebook_path.replace("/", "%2F")
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab%2Ftree%2F{quoted}"


class Params(dict):
    """The resolved knobs of one notebook run: a dict that also allows ``p.epochs``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"no parameter {name!r}; this notebook's parameters are: {', '.join(sorted(self))}"
            ) from None

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
        return f"Params({inner})"


def check_preset(preset: str) -> str:
    """Return ``preset`` if it is a known preset, else raise a ConfigError that lists them."""
    if preset not in PRESET_NAMES:
        raise ConfigError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESET_NAMES)} "
            "(set it in the notebook's parameters cell, with papermill's -p preset NAME, "
            "or with the COURSE_PRESET environment variable)"
        )
    return preset


def current_preset(preset: str | None = None) -> str:
    """The preset in force: the one given, else ``$COURSE_PRESET``, else ``binder``."""
    if preset is None:
        preset = os.environ.get("COURSE_PRESET") or DEFAULT_PRESET
    return check_preset(str(preset).strip().lower())


def preset_defaults(notebook: str, preset: str) -> dict[str, Any]:
    """The default knobs of ``notebook`` at ``preset`` (common knobs included)."""
    if notebook not in NOTEBOOKS:
        raise ConfigError(
            f"unknown notebook {notebook!r}; known notebooks: {', '.join(sorted(NOTEBOOKS))}"
        )
    check_preset(preset)
    merged = dict(COMMON[preset])
    merged.update(NOTEBOOKS[notebook][preset])
    return copy.deepcopy(merged)  # a notebook may change its lists; the presets stay as they are


def resolve(notebook: str, preset: str | None = None, **params: Any) -> Params:
    """Merge preset defaults, ``$COURSE_PRESET`` and explicit parameters (``None`` = default).

    Also starts the run clock that :func:`course_utils.results.record_metrics` reads.
    """
    global _START_TIME
    name = current_preset(preset)
    merged = preset_defaults(notebook, name)
    unknown = sorted(set(params) - set(merged))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {', '.join(unknown)} for notebook {notebook!r}; "
            f"valid parameters: preset, {', '.join(sorted(merged))}"
        )
    for key, value in params.items():
        if value is None:
            continue
        default = merged[key]
        if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
            value = list(value)
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"parameter {key!r} must be True or False, got {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"parameter {key!r} must be a number, got {value!r}")
            value = type(default)(value) if isinstance(default, float) else value
        merged[key] = value
    result = Params(preset=name, **merged)
    _START_TIME = time.perf_counter()
    return result


def start_time() -> float | None:
    """When the last :func:`resolve` call started the run clock (``perf_counter`` seconds)."""
    return _START_TIME


def repo_root() -> Path | None:
    """The course repository this package was installed from, if any (independent of cwd)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "notebooks").is_dir() and (here / "course_utils").is_dir():
        return here
    return None


def _default_dir(env: str, name: str) -> Path:
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser().resolve()
    root = repo_root()
    if root is not None:
        return root / name
    return Path.home() / "course_utils" / name


def data_dir() -> Path:
    """Where datasets are generated or downloaded: ``$COURSE_DATA_DIR`` or ``<repo>/data``."""
    return _default_dir("COURSE_DATA_DIR", "data")


def reports_dir() -> Path:
    """Where notebooks record results: ``$COURSE_REPORTS_DIR`` or ``<repo>/reports``."""
    return _default_dir("COURSE_REPORTS_DIR", "reports")


def require_tensorflow():
    """Import and return TensorFlow, or raise a CourseError that says how to install it."""
    try:
        import tensorflow as tf
    except ImportError as exc:
        from course_utils.errors import CourseError

        raise CourseError(
            "TensorFlow is not installed in this Python environment. "
            "Run `make setup` (installs tensorflow-cpu into .venv), or "
            "`pip install -e '.[cpu]'` (or '.[gpu]' on a CUDA machine); "
            "on Colab it is preinstalled: restart the runtime."
        ) from exc
    return tf


def seed_everything(seed: int = 42, deterministic_ops: bool = True) -> None:
    """Seed Python, numpy, Keras and TensorFlow, and ask TF for deterministic ops."""
    import numpy as np

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import keras
    except ImportError:
        return
    keras.utils.set_random_seed(seed)  # seeds python, numpy and the backend
    if keras.backend.backend() == "tensorflow" and deterministic_ops:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
