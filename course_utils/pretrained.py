"""Pretrained models: finished runs of 05-10, shipped in ``pretrained/``.

``make pretrained`` trains 05-10 at ``binder`` through the reports runner and packs each
finished run folder (``tools/pretrained.py pack``) into ``pretrained/<notebook>/``: its
``run.json``, the final weights (without the optimizer's state) and ``manifest.json``: the
notebook, the preset, the knobs of the run, the data version, the metrics the run recorded,
the Keras/TensorFlow versions, and the sha256 of every file. A run of
:func:`course_utils.training.fit` (06-10) also ships ``checkpoints/`` and the TensorBoard
logs that hold the per-epoch history; 05's run (:func:`course_utils.runs.save_weights`)
ships one weights file and one ``<name>.json`` (steps, last loss) per model.

With the knob ``pretrained=True``, :func:`course_utils.runs.run_folder` calls :func:`use`:
it checks the manifest against the notebook's knobs and the course's data version, checks
every hash, and copies the run into a run folder of its own (``<name>_pretrained``), where
``fit`` finds a finished run (it trains nothing and returns the recorded history) and
:func:`course_utils.runs.load_weights` finds 05's models.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course_utils import config, runs
from course_utils.errors import ConfigError, CorruptFileError, CourseError, DataError
from course_utils.files import atomic_dir

MANIFEST = "manifest.json"
#: Where a notebook's copy goes: ``<reports>/runs/<run name><SUFFIX>``.
SUFFIX = "_pretrained"
_REPAIR = "restore it with `git checkout pretrained/` (or rebuild it with `make pretrained`)"


def pretrained_dir() -> Path:
    """Where the shipped models live: ``$COURSE_PRETRAINED_DIR`` or ``<repo>/pretrained``."""
    return config._default_dir("COURSE_PRETRAINED_DIR", "pretrained")


def sha256(path: str | Path) -> str:
    """The sha256 of the file ``path``, in hex (read in 1 MiB blocks).

    Parameters: ``path``: the file.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of the shipped run in ``folder``; a clear error if it is absent or unreadable.

    Parameters: ``folder``: ``pretrained/<notebook>``.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise CourseError(f"no pretrained model in {folder}: build the models with `make "
                          "pretrained` (trains 05-10 at binder), or run with pretrained=False "
                          "to train this one yourself", path=folder)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("knobs"), dict):
            raise ValueError("it lists no files or no knobs")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as exc:
        raise CorruptFileError(f"{path} is missing or unreadable ({exc}); {_REPAIR}",
                               path=path) from exc
    return manifest


def verify(folder: str | Path) -> dict[str, Any]:
    """Check that every file the manifest of ``folder`` lists is there with its sha256; return it.

    Parameters: ``folder``: ``pretrained/<notebook>``. A missing or changed file is a
    CorruptFileError naming it.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    for name, entry in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise CorruptFileError(f"{path} is missing; {_REPAIR}", path=path)
        if sha256(path) != entry.get("sha256"):
            raise CorruptFileError(f"{path} is corrupt (its sha256 differs from {folder / MANIFEST}"
                                   f"); {_REPAIR}", path=path)
    return manifest


def check_matches(manifest: Mapping[str, Any], params: Mapping[str, Any],
                  path: str | Path) -> None:
    """Refuse a shipped run trained with other knobs or on another data version than ``params``.

    Parameters: ``manifest`` of the shipped run; ``params`` the notebook's resolved knobs;
    ``path`` the manifest's file (named in the errors).
    """
    shipped, wanted = manifest["knobs"], runs.run_knobs(params)
    if wanted.get("preset") != shipped.get("preset"):
        raise ConfigError(
            f"pretrained models exist for preset {shipped.get('preset')!r} only (you run "
            f"{wanted.get('preset')!r}); run with pretrained=False or "
            f"preset={shipped.get('preset')!r}", name="preset")
    for name in sorted(set(shipped) | set(wanted)):
        if shipped.get(name) != wanted.get(name):
            raise ConfigError(
                f"the pretrained model was trained with {name}={shipped.get(name)!r}, you set "
                f"{name}={wanted.get(name)!r}; leave {name} at None (the preset's value) to use "
                "it, or set pretrained=False to train with your value", name=name)
    version = runs.data_version(wanted.get("dataset", "synthetic"))
    if manifest.get("data", {}).get("version") != version:
        raise DataError(
            f"the pretrained model in {Path(path).parent} was trained on "
            f"{manifest.get('data', {}).get('version')!r}, this course builds {version!r}: "
            "rebuild the models with `make pretrained`, or run with pretrained=False", path=path)


def use(notebook: str, params: Mapping[str, Any]) -> Path:
    """A checked copy of ``pretrained/<notebook>`` as a run folder; ``fit`` then trains nothing.

    Parameters: ``notebook`` its name; ``params`` its resolved knobs (``pretrained`` true).
    The shipped run must match the knobs (all but ``restart``, ``pretrained``) and the data
    version, and every file its hash; else a clear error and nothing is copied. An earlier
    copy is replaced (it is only ever a copy); a folder of that name that is not one is refused.
    """
    if params.get("restart"):
        raise ConfigError("restart=True deletes a run to train it afresh and pretrained=True "
                          "loads a shipped one: set only one of them", name="restart")
    source = pretrained_dir() / notebook
    manifest = verify(source)
    check_matches(manifest, params, source / MANIFEST)
    dest = config.reports_dir() / "runs" / (runs.run_name(notebook, params) + SUFFIX)
    if dest.exists():
        info = runs.run_info(runs.check_run_dir(dest))
        if info is not None and not info.get("pretrained"):
            raise CourseError(f"{dest} holds a run that training.fit trained, not a copy of a "
                              "pretrained model; move it away to use the pretrained one",
                              path=dest)
        shutil.rmtree(dest)
    with atomic_dir(dest) as tmp:
        for name in [*manifest["files"], MANIFEST]:
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, tmp / name)
    print(f"pretrained {notebook}: {len(manifest['files'])} files checked (knobs, data version, "
          f"sha256) and copied to {dest}")
    return dest
