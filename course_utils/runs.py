"""Run folders of :func:`course_utils.training.fit`: where a run lives, its checkpoints, resuming.

A run lives in one folder, ``run_dir``::

    run_dir/run.json                      the course's mark and the architecture's fingerprint
    run_dir/logs/train, logs/validation   Keras' TensorBoard scalars (loss, metrics)
    run_dir/logs/examples                 Dice of every label and a predicted slice, per epoch
    run_dir/checkpoints/                  Keras' BackupAndRestore: weights, optimizer, epoch

A notebook that trains several small models in a loop of its own (05: one per seed, sampler
and loss) keeps each model's final weights and last loss instead (:func:`save_weights`,
:func:`load_weights`)::

    run_dir/run.json                      the course's mark (written_by save_weights)
    run_dir/<name>.weights.h5             float32 weights of Keras' model.save_weights
    run_dir/<name>.json                   the model's name, steps trained and last loss

:func:`run_folder` names one folder per set of knobs and data version, so that the same
knobs resume and new knobs (or a new cohort) start afresh. Training writes only into new
folders or its own, and :func:`clear_run` deletes only its own. A pretrained model
(:mod:`course_utils.pretrained`) is such a folder, shipped finished.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from course_utils import config
from course_utils.errors import ConfigError, CorruptFileError, CourseError, ModelError
from course_utils.files import atomic_path

#: The course's mark on a run folder: written by :func:`fit`, with the architecture's fingerprint.
RUN_FILE = "run.json"
#: Where BackupAndRestore keeps the weights, optimizer state and last finished epoch.
CHECKPOINTS = "checkpoints"
#: Knobs that name no new run: ``restart`` deletes a run, ``pretrained`` copies a shipped one.
NOT_IN_KEY = ("restart", "pretrained")
#: The mark of a run folder of :func:`save_weights` (several models, no checkpoints).
WEIGHTS_RUN = "course_utils.runs.save_weights"
#: The file of one model in such a folder: ``<name>.weights.h5``, and ``<name>.json`` beside it.
WEIGHTS_SUFFIX = ".weights.h5"


def data_version(dataset: str) -> str:
    """The version of the cohort ``dataset`` names: its generator's or its resampler's.

    Parameters: ``dataset``: ``synthetic``, ``ixi`` or ``mrbrains13``. A run trained on
    another version (an older cohort) is not resumed: :func:`run_folder` keys on it.
    """
    if dataset == "synthetic":
        from course_utils.data import synthetic

        return f"synthetic generator {synthetic.GENERATOR_VERSION}"
    if dataset == "ixi":
        from course_utils.data import ixi

        return f"ixi resampling {ixi.RESAMPLING_VERSION}"
    return str(dataset)  # mrbrains13: the challenge's own files, as the user placed them


def run_knobs(params: Mapping[str, Any], ignore: Sequence[str] = NOT_IN_KEY) -> dict[str, Any]:
    """The knobs that define a run, as JSON values, sorted: ``params`` less those in ``ignore``.

    Parameters: ``params`` a notebook's resolved knobs (``config.resolve``) or their JSON
    record; ``ignore`` knobs that name no new run.
    """
    knobs = {k: params[k] for k in sorted(params) if k not in ignore}
    return json.loads(json.dumps(knobs, sort_keys=True, default=str))


def run_name(notebook: str, params: Mapping[str, Any],
             ignore: Sequence[str] = NOT_IN_KEY) -> str:
    """``<notebook>_<preset>_<hash of the knobs and the data version>``: a run folder's name.

    Parameters: ``notebook`` its name; ``params`` its resolved knobs; ``ignore`` knobs left
    out of the hash.
    """
    key = run_knobs(params, ignore)
    if "dataset" in params:
        key["data_version"] = data_version(params["dataset"])
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    return f"{notebook}_{params.get('preset', 'run')}_{digest}"


def run_folder(notebook: str, params: Mapping[str, Any],
               ignore: Sequence[str] = NOT_IN_KEY) -> Path:
    """The run folder of ``notebook`` for these knobs: same knobs resume, new knobs start afresh.

    Parameters: ``notebook`` its name; ``params`` its resolved knobs (``config.resolve``),
    hashed with the dataset's version (:func:`data_version`) into the folder name, except
    those in ``ignore``. With ``params["pretrained"]`` true, the folder is a checked copy of
    the shipped pretrained run (:func:`course_utils.pretrained.use`): ``fit`` trains nothing.
    """
    if params.get("pretrained"):
        from course_utils import pretrained

        return pretrained.use(notebook, params)
    return config.reports_dir() / "runs" / run_name(notebook, params, ignore)


def architecture_fingerprint(model) -> str:
    """A string that changes with ``model``'s architecture: every weight's shape, in order."""
    shapes = ";".join("x".join(str(d) for d in w.shape) for w in model.weights)
    return f"{len(model.weights)}|{shapes}"


def check_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a Path if it is new, empty or a run folder of :func:`fit`; else a CourseError.

    Training never overwrites (nor, with :func:`clear_run`, deletes) someone else's file.
    """
    path = Path(run_dir)
    if path.exists() and not path.is_dir():
        raise CourseError(f"run_dir {path} is a file, not a folder; give the path of a new "
                          "folder for this run (it is created)", path=path)
    if path.is_dir() and not (path / RUN_FILE).is_file() and any(path.iterdir()):
        raise CourseError(f"run_dir {path} holds files that course_utils.training did not write "
                          f"(no {RUN_FILE}); give a new or empty folder for this run", path=path)
    return path


def clear_run(run_dir: str | Path) -> bool:
    """Delete ``run_dir`` if :func:`fit` wrote it (to train afresh); True if one was deleted.

    Refuses (CourseError) a file or a folder that holds anything :func:`fit` did not write.
    """
    import shutil

    path = check_run_dir(run_dir)
    if not (path / RUN_FILE).is_file():
        return False
    shutil.rmtree(path)
    return True


def run_info(run_dir: str | Path) -> dict[str, Any] | None:
    """What ``run_dir/run.json`` says (fingerprint; ``pretrained`` for a shipped run), or None.

    Parameters: ``run_dir`` a run folder; an unreadable run.json is a CorruptFileError.
    """
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path} is unreadable ({exc}); delete the run folder "
                               f"{run_dir} to start this run afresh", path=path) from exc


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    """Last finished epoch, checkpoint, fingerprint of the :func:`fit` run ``run_dir``; or None."""
    run_dir = Path(run_dir)
    info = run_info(run_dir)
    metadata = run_dir / CHECKPOINTS / "training_metadata.json"
    if info is None or not metadata.is_file():
        return None
    try:
        epoch = int(json.loads(metadata.read_text(encoding="utf-8"))["epoch"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{metadata} is unreadable ({exc}); delete the run folder "
                               f"{run_dir} to start this run afresh", path=metadata) from exc
    return {"epoch": epoch, "checkpoint": f"{CHECKPOINTS}/latest.weights.h5",
            "fingerprint": info.get("fingerprint"), "pretrained": info.get("pretrained")}


def check_architecture(model, run_dir: str | Path) -> None:
    """ModelError if ``run_dir`` holds checkpoints of another architecture than ``model``'s.

    Parameters: ``model`` a Keras model; ``run_dir`` a run folder (or a new one).
    """
    info = run_info(run_dir)
    if info is not None and info.get("fingerprint") != architecture_fingerprint(model):
        raise ModelError(
            f"the checkpoints in {run_dir} were saved by a model with another architecture "
            f"(different layers or filters); delete the folder {run_dir} to start afresh, or "
            "give this model another run name (run_dir)", path=run_dir)


def restore(model, run_dir: str | Path) -> int:
    """Load the last checkpoint of ``run_dir`` into ``model``; return its epoch (0 if none).

    Parameters: ``model`` a compiled model of the run's architecture (else ModelError);
    ``run_dir`` the run folder of :func:`fit`. A pretrained run holds no optimizer state
    (``run.json``: ``"optimizer_state": false``): the optimizer then starts afresh.
    """
    run_dir = Path(run_dir)
    check_architecture(model, run_dir)
    state = read_state(run_dir)
    if state is None:
        return 0
    path = run_dir / state["checkpoint"]
    with_optimizer = (run_info(run_dir) or {}).get("optimizer_state", True)
    if with_optimizer and model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        with warnings.catch_warnings():
            if not with_optimizer:  # by design: Keras' note that it found no optimizer state
                warnings.filterwarnings("ignore", "Skipping variable loading for optimizer",
                                        UserWarning)
            model.load_weights(path)
    except (OSError, ValueError, KeyError) as exc:  # missing, truncated or mismatched file
        raise ModelError(f"could not load checkpoint {path} into this model ({exc}); delete "
                         f"the folder {run_dir} to start afresh", path=path) from exc
    return state["epoch"]


# =============================================================================
# Several models in one run folder (05): final weights and last loss of each
# =============================================================================

def weights_stem(name: str) -> str:
    """The file stem of the model ``name``: runs of letters, digits, ``+.-`` joined by ``_``.

    Parameters: ``name``: e.g. ``"seed 42, balanced, weighted Dice+CE"``.
    """
    stem = "_".join(re.findall(r"[A-Za-z0-9+.-]+", str(name)))
    if not stem:
        raise ConfigError(f"name {name!r} has no letter or digit to name a file after; give "
                          "e.g. 'seed 42, uniform, CE'", name="name")
    return stem


def save_weights(model, run_dir: str | Path, name: str, final_loss: float) -> Path:
    """Save ``model``'s weights and its last training loss as model ``name`` of ``run_dir``.

    Parameters: ``model`` a trained Keras model; ``run_dir`` its notebook's run folder
    (:func:`run_folder`; marked as the course's on first use, refused if it holds files of
    anything else); ``name`` the model among the run's (seed, sampler, loss...);
    ``final_loss`` its last training loss, stored beside the weights with the steps trained.
    Both files are written atomically, the weights first. Returns the weights' path.
    """
    run_dir = check_run_dir(run_dir)
    info = run_info(run_dir)
    if info is not None and (info.get("written_by") != WEIGHTS_RUN or info.get("pretrained")):
        raise CourseError(f"{run_dir} holds a run of training.fit or a copy of the pretrained "
                          "models, not models this notebook trained; give another run folder "
                          "(runs.run_folder with pretrained=False)", path=run_dir)
    if info is None:
        with atomic_path(run_dir / RUN_FILE) as tmp:
            tmp.write_text(json.dumps({"written_by": WEIGHTS_RUN}, indent=1), encoding="utf-8")
    path = run_dir / (weights_stem(name) + WEIGHTS_SUFFIX)
    with atomic_path(path, suffix=WEIGHTS_SUFFIX) as tmp:  # Keras wants the .weights.h5 ending
        model.save_weights(tmp)
    optimizer = getattr(model, "optimizer", None)
    steps = None if optimizer is None else int(optimizer.iterations)
    record = {"name": str(name), "steps": steps, "final_loss": float(final_loss)}
    with atomic_path(path.with_name(weights_stem(name) + ".json")) as tmp:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
    return path


def load_weights(model, run_dir: str | Path, name: str) -> float:
    """Load model ``name`` of ``run_dir`` into ``model``; return its last training loss.

    Parameters: ``model`` a model of the architecture that was saved; ``run_dir`` the run
    folder (a pretrained copy: :func:`run_folder` with ``pretrained=True``); ``name`` as
    given to :func:`save_weights`. Only the weights are loaded (the optimizer starts afresh;
    a shipped file holds no optimizer state). A missing, unreadable or mismatched file is a
    ModelError naming it.
    """
    stem = Path(run_dir) / weights_stem(name)
    path, record_path = stem.with_name(stem.name + WEIGHTS_SUFFIX), stem.with_name(stem.name + ".json")
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("name") != str(name):
            raise ValueError(f"it holds model {record.get('name')!r}")
        with warnings.catch_warnings():  # by design: the weights only, never Adam's moments
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer",
                                    UserWarning)
            model.load_weights(path)
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        raise ModelError(f"could not load model {name!r} from {path} and {record_path.name} "
                         f"({exc}); train it (pretrained=False) or restore the pretrained "
                         "models (`git checkout pretrained/`)", path=path) from exc
    return float(record["final_loss"])
