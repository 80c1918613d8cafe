"""Presets, parameters, paths and seeds: the one place where a notebook's knobs come from.

Every notebook has a papermill ``parameters`` cell whose values default to
``None``, then calls :func:`resolve`. Values are merged in this order, later
ones winning:

1. the preset's defaults (``ci``, ``binder`` or ``full``);
2. the ``COURSE_PRESET`` environment variable, which picks the preset when the
   notebook does not (this is how CI runs every notebook at ``ci`` with nbval);
3. parameters set in the notebook or injected by papermill (``-p epochs 3``).

Every knob is declared once, in :data:`KNOBS` (or, where a notebook gives a
name its own meaning, in :data:`NOTEBOOK_KNOBS`), as a validator from
:mod:`course_utils.checks` with its range; :func:`resolve` runs it on the
preset's default and on whatever the notebook or papermill passes. An unknown
preset, notebook or knob, or a value outside its range, raises
:class:`~course_utils.errors.ConfigError` that names the knob and the valid
range (or the closest valid name).
"""

from __future__ import annotations

import copy
import functools
import numbers
import os
import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils import checks
from course_utils.errors import ConfigError

if TYPE_CHECKING:  # the real class subclasses Bunch and is built on first use (_params_class)
    from sklearn.utils import Bunch as Params

# The course's public repository: the one place its address is set. Badges in
# the notebooks and README, the Colab setup cell and binder/ are checked
# against it by tests/test_skeleton.py (`python tools/nbtool.py badges` rewrites
# them; `python tools/nbtool.py sync-setup` copies 00's setup cell everywhere).
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

# 07 and 08 share every knob: only the head, the loss and the metric differ (see notebook 08).
_RESNET_KNOBS: dict[str, dict[str, Any]] = {
    "ci": {"epochs": 10, "steps_per_epoch": 15, "batch_size": 4, "filters": [8, 16, 32],
           "strides": [2, 2, 2], "crop_size": [44, 52, 44], "test_crops": 3,
           "learning_rate": 0.003, "pretrained": False},
    "binder": {"epochs": 15, "steps_per_epoch": 20, "batch_size": 4,
               "filters": [8, 16, 32, 64], "strides": [2, 2, 2, 2], "pretrained": False,
               "crop_size": [72, 88, 80], "test_crops": 5, "learning_rate": 0.002},
    "full": {"epochs": 100, "steps_per_epoch": 100, "batch_size": 8,
             "filters": [16, 32, 64, 128, 256], "strides": [1, 2, 2, 2, 2], "pretrained": False,
             "crop_size": [144, 176, 160], "test_crops": 9, "learning_rate": 0.001},
}

_SEGMENTATION: dict[str, Any] = {"patches_per_volume": 8, "augment": True, "overlap": 0.5,
    "restart": False, "pretrained": False, "sequences": ["t1", "t1_ir", "t2_flair"],
    "class_weighting": "sqrt_median_frequency"}

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
        # steps: training steps per sampler/loss combination; freq_batches: batches counted;
        # seeds: how many seeds each combination is trained with; pretrained: as in 06-10
        "ci": {"patch_size": 16, "batch_size": 4, "steps": 30, "filters": 8,
               "learning_rate": 0.005, "freq_batches": 50, "seeds": 1, "pretrained": False},
        "binder": {"patch_size": 24, "batch_size": 4, "steps": 600, "filters": 16,
                   "learning_rate": 0.005, "freq_batches": 200, "seeds": 2, "pretrained": False},
        "full": {"patch_size": 48, "batch_size": 4, "steps": 3000, "filters": 16,
                 "learning_rate": 0.005, "freq_batches": 500, "seeds": 3, "pretrained": False},
    },
    # --- 06 segmentation (_SEGMENTATION: the knobs every preset shares) ---
    "06_segmentation": {
        "ci": {**_SEGMENTATION, "patch_size": 24, "batch_size": 4, "epochs": 4,
               "steps_per_epoch": 15, "filters": [8, 16, 32], "learning_rate": 0.01, "window": 48},
        "binder": {**_SEGMENTATION, "patch_size": 32, "window": 64, "batch_size": 2, "epochs": 18,
                   "steps_per_epoch": 80, "filters": [8, 16, 32, 64], "learning_rate": 0.005},
        "full": {**_SEGMENTATION, "patch_size": 64, "window": 128, "batch_size": 8, "epochs": 100,
                 "steps_per_epoch": 200, "filters": [16, 32, 64, 128], "learning_rate": 0.001},
    },
    # --- 07 age regression / 08 sex classification ------------------------
    "07_age_regression": _RESNET_KNOBS,
    "08_sex_classification": _RESNET_KNOBS,
    # --- 09 representation learning ----------------------------------------
    "09_representation_learning": {
        "ci": {"epochs": 8, "steps_per_epoch": 6, "batch_size": 4, "latent_size": 32,
               "filters": [8, 16, 32], "learning_rate": 0.002, "raw_factor": 4,
               "input_factor": 1, "pretrained": False},
        "binder": {"epochs": 25, "steps_per_epoch": 12, "batch_size": 4, "latent_size": 64,
                   "filters": [8, 16, 32], "learning_rate": 0.002, "raw_factor": 4,
                   "input_factor": 2, "pretrained": False},
        "full": {"epochs": 200, "steps_per_epoch": 25, "batch_size": 8, "latent_size": 256,
                 "filters": [16, 32, 64, 128], "learning_rate": 0.001, "raw_factor": 8,
                 "input_factor": 1, "pretrained": False},
    },
    # --- 10 super-resolution -----------------------------------------------
    "10_super_resolution": {
        "ci": {"epochs": 6, "steps_per_epoch": 10, "batch_size": 4, "factor": 4,
               "crop_size": [24, 24, 24], "filters": 16, "n_layers": 3,
               "learning_rate": 0.002, "pretrained": False},
        "binder": {"epochs": 15, "steps_per_epoch": 25, "batch_size": 4, "factor": 4,
                   "crop_size": [40, 40, 40], "filters": 16, "n_layers": 4,
                   "learning_rate": 0.002, "pretrained": False},
        "full": {"epochs": 100, "steps_per_epoch": 200, "batch_size": 8, "factor": 4,
                 "crop_size": [64, 64, 64], "filters": 32, "n_layers": 6,
                 "learning_rate": 0.001, "pretrained": False},
    },
}

# =============================================================================
# One declaration per knob: a validator from course_utils.checks with its range
# =============================================================================
Knob = Callable[[Any, str], Any]  # (value, knob name) -> the value in canonical form


def _int(minimum: int = 1, maximum: int | None = None) -> Knob:
    return partial(checks.integer, minimum=minimum, maximum=maximum)


def _dataset(*usable: str, why: str = "") -> Knob:
    def check(value: Any, name: str) -> str:
        value = checks.option(value, DATASETS, name)  # an unknown name: the closest one
        if value not in usable:
            raise ConfigError(f"{name} {value!r} does not fit this notebook, which {why}; "
                              f"choose one of {', '.join(map(repr, usable))}", name=name)
        return value
    return check


def _one_or_three(value: Any, name: str) -> int | list[int]:
    """One whole number (a cube) stays one; three (z, y, x) become a list."""
    size = checks.triple(value, name)
    return size[0] if isinstance(value, numbers.Real) else list(size)


def _three(value: Any, name: str) -> list[int]:
    """Three sizes (z, y, x) as a list; one number means a cube."""
    return list(checks.triple(value, name))


DATASETS = ("synthetic", "ixi", "mrbrains13")  # course_utils.data.DATASETS (a test checks)
SEGMENTATION_SEQUENCES = ("t1", "t1_ir", "t2_flair")  # io.SEQUENCES: what 06's datasets have
CLASS_WEIGHTINGS = ("none", "median_frequency", "sqrt_median_frequency")  # 06's loss weights


def _sequences(value: Any, name: str) -> list[str]:
    """06: the input channels, distinct names of SEGMENTATION_SEQUENCES ("t1" alone: ["t1"])."""
    items = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [None]
    names = [checks.option(v, SEGMENTATION_SEQUENCES, name) for v in items]
    if not names or len(set(names)) != len(names):
        raise ConfigError(f"{name} must list distinct sequences, e.g. ['t1', 't2_flair'], got "
                          f"{value!r}", name=name)
    return names


KNOBS: dict[str, Knob] = {
    # every notebook (COMMON)
    "dataset": _dataset(*DATASETS),
    "seed": _int(0, 2**32 - 1),  # numpy's legacy seeding accepts no more
    # at least 10 subjects, so that train (60 %), val and test (20 % each) all get some
    "n_subjects": _int(10),
    # from the template's own 1 mm to 6 mm (coarser grids lose the brain's structures)
    "spacing": partial(checks.number, minimum=1.0, maximum=6.0),
    "n_table": _int(1), "subject": _int(0),  # 01
    "example_shape": _three, "iterations": _int(1), "n_volumes": _int(1), "repeats": _int(1),  # 02
    # 03
    "n_hist": _int(1), "n_registered": _int(1), "reg_iterations": _int(1),
    "reg_sampling": partial(checks.number, minimum=0.0, maximum=1.0, open_min=True),
    "elastic_mm": partial(checks.number, minimum=0.0),  # 04
    "rotation_degrees": partial(checks.number, minimum=0.0, maximum=180.0),
    # training (05-10)
    "epochs": _int(1), "steps_per_epoch": _int(1), "steps": _int(1), "batch_size": _int(1),
    "learning_rate": partial(checks.number, minimum=0.0, maximum=1.0, open_min=True),
    "filters": partial(checks.int_list, example="[8, 16, 32]"),  # channels per level
    "freq_batches": _int(1),
    # 06 segmentation
    "patch_size": _one_or_three, "window": _one_or_three, "patches_per_volume": _int(1),
    "overlap": partial(checks.number, minimum=0.0, maximum=1.0, open_max=True),
    "augment": checks.boolean, "restart": checks.boolean, "pretrained": checks.boolean,
    # 07/08 ResNet
    "strides": partial(checks.int_list, example="[2, 2, 2]"), "crop_size": _three,
    "test_crops": _int(1, 9),  # the centre and the 8 corners (applications.crop_offsets)
    # 09 autoencoder
    "latent_size": _int(1), "raw_factor": _int(1), "input_factor": _int(1),
    # 10 super-resolution
    "factor": _int(2), "n_layers": _int(1),
    "seeds": _int(1, 10),  # 05: repeats of each sampler/loss run
    "sequences": _sequences,  # 06: the input channels
    "class_weighting": lambda value, name: checks.option(value, CLASS_WEIGHTINGS, name),  # 06
}

# Where a notebook gives a knob a meaning of its own, its declaration is here.
NOTEBOOK_KNOBS: dict[str, dict[str, Knob]] = {
    "05_class_balancing": {"patch_size": _int(1),  # the edge of a cube: printed as N³
                           "filters": _int(1)},  # one width for every layer of small_fcn
    "06_segmentation": {"dataset": _dataset("synthetic", "mrbrains13",
                                            why="needs tissue and lesion label maps")},
    "07_age_regression": {"dataset": _dataset("synthetic", "ixi", why="needs ages")},
    "08_sex_classification": {"dataset": _dataset("synthetic", "ixi", why="needs sexes")},
    "09_representation_learning": {"dataset": _dataset("synthetic", "ixi", why="needs ages")},
    "10_super_resolution": {"dataset": _dataset("synthetic", "ixi",
                                                why="trains on T1 scans of many subjects"),
                            "filters": _int(1)},  # one width for every refinement layer
}


def knob(notebook: str, name: str) -> Knob:
    """The validator of knob ``name`` in ``notebook``.

    Parameters: ``notebook``: a notebook stem (key of :data:`NOTEBOOKS`);
    ``name``: the knob.
    """
    declared = NOTEBOOK_KNOBS.get(notebook, {})
    return declared[name] if name in declared else KNOBS[name]


def colab_url(notebook_path: str) -> str:
    """The Open-in-Colab address of a notebook.

    Parameters: ``notebook_path``: its path relative to the repository root.
    """
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/{notebook_path}"


def binder_url(notebook_path: str) -> str:
    """The Launch-Binder address that opens a notebook in JupyterLab.

    Parameters: ``notebook_path``: its path relative to the repository root.
    """
    quoted = notebook_path.replace("/", "%2F")
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab%2Ftree%2F{quoted}"


@functools.cache
def _params_class() -> type:
    """Build :class:`Params` on first use: importing scikit-learn costs about 1.6 s of CPU
    (it pulls in scipy.stats), which ``import course_utils.config`` (the report runner,
    benchmarks, data worker processes) should not pay."""
    from sklearn.utils import Bunch

    class Params(Bunch):
        """The resolved knobs of one notebook run: a dict that also allows ``p.epochs``.

        ``started`` (an attribute, not a knob) is the ``time.perf_counter()`` at which
        :func:`resolve` made it: :func:`course_utils.results.record_metrics` reads the
        run's runtime from the Params it is given, so no clock is shared between runs.
        """

        def __init__(self, started: float | None = None, **knobs: Any) -> None:
            super().__init__(**knobs)
            self.__dict__["started"] = started

        def __getattr__(self, name: str) -> Any:
            try:
                return self[name]
            except KeyError:
                raise AttributeError(f"no parameter {name!r}; this notebook's parameters "
                                     f"are: {', '.join(sorted(self))}") from None

        def __setstate__(self, state: dict) -> None:  # copies and pickles keep ``started``
            self.__dict__.update(state)

        def __repr__(self) -> str:
            inner = ", ".join(f"{k}={v!r}" for k, v in self.items())
            return f"Params({inner})"

    Params.__module__, Params.__qualname__ = __name__, "Params"  # pickles find it here
    return Params


def __getattr__(name: str) -> Any:
    """``config.Params`` (PEP 562): the class of :func:`resolve`'s result, built on first use."""
    if name == "Params":
        return _params_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_preset(preset: str) -> str:
    """Return ``preset`` if it is a known preset, else a ConfigError suggesting the closest.

    Parameters: ``preset``: the name to check.
    """
    try:
        return checks.option(preset, PRESET_NAMES, "preset")
    except ConfigError as err:
        raise ConfigError(
            f"{err} (set it in the notebook's parameters cell, with papermill's -p preset NAME, "
            "or with the COURSE_PRESET environment variable)", name="preset",
        ) from None


def current_preset(preset: str | None = None) -> str:
    """The preset in force: the one given, else ``$COURSE_PRESET``, else ``binder``.

    Parameters: ``preset``: a preset name, or None to look at the environment.
    """
    if preset is None:
        preset = os.environ.get("COURSE_PRESET") or DEFAULT_PRESET
    return check_preset(str(preset).strip().lower())


def preset_defaults(notebook: str, preset: str) -> dict[str, Any]:
    """The default knobs of ``notebook`` at ``preset`` (common knobs included), unchecked.

    Parameters: ``notebook``: a notebook stem; ``preset``: ``ci``, ``binder`` or ``full``.
    """
    checks.option(notebook, list(NOTEBOOKS), "notebook")
    check_preset(preset)
    merged = dict(COMMON[preset])
    merged.update(NOTEBOOKS[notebook][preset])
    return copy.deepcopy(merged)  # a notebook may change its lists; the presets stay as they are


def resolve(notebook: str, preset: str | None = None, **params: Any) -> Params:
    """Merge preset defaults, ``$COURSE_PRESET`` and explicit knobs, each checked by its declaration.

    Parameters: ``notebook``: the notebook stem, e.g. ``"06_segmentation"``;
    ``preset``: ``ci``, ``binder`` or ``full`` (None: ``$COURSE_PRESET``, else
    ``binder``); ``params``: knobs to set (None keeps the preset's value).
    The returned Params carries the run clock (``started``) that
    :func:`course_utils.results.record_metrics` reads.
    """
    started = time.perf_counter()
    name = current_preset(preset)
    merged = preset_defaults(notebook, name)
    for key in params:
        if key not in merged:
            try:
                checks.option(key, sorted(merged), "parameter")
            except ConfigError as err:
                raise ConfigError(f"{err}, or preset (notebook {notebook!r})", name=key) from None
    merged.update({k: v for k, v in params.items() if v is not None})
    return _params_class()(started=started, preset=name,
                           **{k: knob(notebook, k)(v, k) for k, v in merged.items()})


def repo_root() -> Path | None:
    """The course repository this package was installed from, if any (independent of cwd)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "notebooks").is_dir() and (here / "course_utils").is_dir():
        return here
    return None


def _default_dir(env: str, name: str) -> Path:
    """``$env`` if set, else ``<repo>/name``, else ``~/course_utils/name`` (installed package)."""
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
    """Seed Python, numpy, Keras and TensorFlow, and ask TF for deterministic ops.

    Parameters: ``seed``: a whole number in [0, 2**32 - 1]; ``deterministic_ops``:
    also make TensorFlow's ops deterministic (slower on some GPUs).
    """
    import numpy as np

    seed = KNOBS["seed"](seed, "seed")
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
