"""Pack, check and compare the pretrained models of 05-10 (``pretrained/<notebook>/``).

    python tools/pretrained.py pack --reports reports/pretrained-train/binder [--notebooks 06 07]
    python tools/pretrained.py check                    # manifests, hashes, sizes, not git-ignored
    python tools/pretrained.py compare --reports DIR    # a pretrained=True run's metrics vs manifest

``pack`` takes the finished run folder that each notebook's reports run trained (found from
the knobs its ``<notebook>.metrics.json`` recorded) and writes ``pretrained/<notebook>/``:
run.json (marked pretrained), the final weights without the optimizer's state (a third of
the size; enough to evaluate), and manifest.json (see :mod:`course_utils.pretrained`); for
06-10 (``training.fit``) also the training metadata and the TensorBoard event files (the
per-epoch history), for 05 (``runs.save_weights``, one model per seed, sampler and loss)
each model's ``<name>.json`` (steps trained, last loss). A folder is written whole or not
at all. ``make pretrained`` runs the training and then this.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils import pretrained, runs  # noqa: E402
from course_utils.errors import CourseError, DataError  # noqa: E402
from course_utils.files import atomic_dir, is_partial  # noqa: E402

NOTEBOOKS = ("05_class_balancing", "06_segmentation", "07_age_regression", "08_sex_classification",
             "09_representation_learning", "10_super_resolution")
WEIGHTS = f"{runs.CHECKPOINTS}/latest.weights.h5"
METADATA = f"{runs.CHECKPOINTS}/training_metadata.json"
LIMIT_MB = 20.0  # all six together: small enough to keep in the repository


def select(prefixes: list[str] | None) -> list[str]:
    """The notebooks of 05-10 whose names start with one of ``prefixes`` (all if none)."""
    chosen = [n for n in NOTEBOOKS if not prefixes or any(n.startswith(p) for p in prefixes)]
    if not chosen:
        raise CourseError(f"no notebook of {', '.join(NOTEBOOKS)} starts with {prefixes}")
    return chosen


def saved_models(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The models ``runs.save_weights`` wrote in ``run_dir``: file stem -> its ``<stem>.json``."""
    found = {}
    for weights in sorted(run_dir.glob("*" + runs.WEIGHTS_SUFFIX)):
        if is_partial(weights.name):
            continue  # a save cut short: never shipped
        stem = weights.name[:-len(runs.WEIGHTS_SUFFIX)]
        try:
            found[stem] = json.loads((run_dir / f"{stem}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{run_dir / stem}.json is missing or unreadable ({exc}): rerun the "
                            "notebook with fresh run folders (`make pretrained`)",
                            path=run_dir / f"{stem}.json") from exc
    return found


def _check_finished(run_dir: Path, params: dict[str, Any]) -> None:
    """DataError unless ``run_dir`` holds the whole training of ``params`` (epochs or steps)."""
    if (runs.run_info(run_dir) or {}).get("written_by") == runs.WEIGHTS_RUN:
        models = saved_models(run_dir)
        short = sorted(stem for stem, record in models.items()
                       if record.get("steps") != params["steps"])
        if models and not short:
            return
        raise DataError(f"{run_dir} holds no model, or models trained for fewer than "
                        f"{params['steps']} steps ({', '.join(short)}); rerun the notebook with "
                        "fresh run folders (`make pretrained`)", path=run_dir)
    done = (runs.read_state(run_dir) or {}).get("epoch", 0)
    if done < params["epochs"]:
        raise DataError(f"{run_dir} holds {done} of {params['epochs']} epochs (or is missing); "
                        "rerun the notebook with fresh run folders (`make pretrained`)",
                        path=run_dir)


def finished_run(notebook: str, reports: Path) -> tuple[dict[str, Any], Path]:
    """The metrics record of ``notebook`` in ``reports`` and the finished run folder it trained."""
    record_path = reports / f"{notebook}.metrics.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{record_path} is missing or unreadable ({exc}): the reports run of "
                        f"{notebook} did not finish; run `make pretrained`", path=record_path) from exc
    params = record["params"]
    if params.get("pretrained"):
        raise DataError(f"{record_path} records a run that loaded a pretrained model; pack a "
                        "run that trained (pretrained=False)", path=record_path)
    run_dir = reports / "runs" / runs.run_name(notebook, params)
    _check_finished(run_dir, params)
    return record, run_dir


def strip_optimizer(source: Path, dest: Path) -> None:
    """Copy the Keras weights file ``source`` to ``dest`` without its ``optimizer`` group."""
    import h5py

    with h5py.File(source, "r") as old, h5py.File(dest, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value
        for key in old:
            if key != "optimizer":
                old.copy(old[key], new, name=key)


def _write_files(run_dir: Path, notebook: str, tmp: Path) -> list[str]:
    """Write the shipped files of ``run_dir`` into ``tmp``; return their relative names."""
    info = runs.run_info(run_dir) or {}
    info.update(pretrained=notebook, optimizer_state=False)
    (tmp / runs.RUN_FILE).write_text(json.dumps(info, indent=1), encoding="utf-8")
    names = [runs.RUN_FILE]
    if info.get("written_by") == runs.WEIGHTS_RUN:  # 05: several models, no logs
        for stem in saved_models(run_dir):
            strip_optimizer(run_dir / f"{stem}{runs.WEIGHTS_SUFFIX}",
                            tmp / f"{stem}{runs.WEIGHTS_SUFFIX}")
            shutil.copyfile(run_dir / f"{stem}.json", tmp / f"{stem}.json")
            names += [f"{stem}{runs.WEIGHTS_SUFFIX}", f"{stem}.json"]
        return names
    (tmp / runs.CHECKPOINTS).mkdir(parents=True)
    strip_optimizer(run_dir / WEIGHTS, tmp / WEIGHTS)
    shutil.copyfile(run_dir / METADATA, tmp / METADATA)
    names += [WEIGHTS, METADATA]
    for events in sorted((run_dir / "logs").rglob("events.out.tfevents.*")):
        name = events.relative_to(run_dir).as_posix()
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(events, tmp / name)
        names.append(name)
    return names


def _versions() -> dict[str, str]:
    import keras
    import numpy as np
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _trained(run_dir: Path) -> dict[str, Any]:
    """How much the run trained: ``epochs`` (06-10), or ``models`` and their ``steps`` (05)."""
    state = runs.read_state(run_dir)
    if state is not None:
        return {"epochs": state["epoch"]}
    models = saved_models(run_dir)
    return {"models": len(models), "steps": next(iter(models.values()))["steps"]}


def pack(notebook: str, reports: Path, out: Path) -> Path:
    """Pack the finished run of ``notebook`` in ``reports`` into ``out/<notebook>``; return it."""
    record, run_dir = finished_run(notebook, reports)
    params, dest = record["params"], out / notebook
    if dest.exists():
        if not (dest / pretrained.MANIFEST).is_file():
            raise CourseError(f"{dest} exists and is not a packed model; move it away", path=dest)
        shutil.rmtree(dest)
    with atomic_dir(dest) as tmp:
        names = _write_files(run_dir, notebook, tmp)
        manifest = {
            "format": 1, "notebook": notebook, "preset": params["preset"],
            "knobs": runs.run_knobs(params),
            "data": {"dataset": params["dataset"], "version": runs.data_version(params["dataset"])},
            **_trained(run_dir), "metrics": record["metrics"],
            "training": {k: record.get(k) for k in ("runtime_s", "peak_memory_mb", "finished")},
            "versions": _versions(),
            "files": {n: {"sha256": pretrained.sha256(tmp / n), "bytes": (tmp / n).stat().st_size}
                      for n in names},
        }
        (tmp / pretrained.MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n",
                                               encoding="utf-8")
    return dest


def ignored_by_git(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` that git would not add (a .gitignore rule matches); [] outside git."""
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "--no-index", "--stdin"],
                              input="\n".join(map(str, paths)), capture_output=True, text=True,
                              check=False)
    except OSError:
        return []
    return [Path(line) for line in done.stdout.splitlines() if line.strip()]


def check(out: Path, notebooks: list[str]) -> int:
    """Verify every manifest and hash under ``out``; print sizes and metrics; 0 if all is well."""
    total, problems = 0, []
    for notebook in notebooks:
        try:
            manifest = pretrained.verify(out / notebook)
        except CourseError as err:
            problems.append(str(err))
            continue
        size = sum(entry["bytes"] for entry in manifest["files"].values())
        total += size
        files = [out / notebook / name for name in [*manifest["files"], pretrained.MANIFEST]]
        problems += [f"{path} is git-ignored: add the line `!/pretrained/**/logs/` at the end of "
                     ".gitignore" for path in ignored_by_git(files)]
        trained = (f"{manifest['epochs']} epochs" if "epochs" in manifest else
                   f"{manifest.get('models')} models of {manifest.get('steps')} steps")
        print(f"{notebook}: {manifest['preset']}, {trained}, "
              f"{size / 2**20:.2f} MiB, {manifest['data']['version']}, "
              f"trained in {manifest['training'].get('runtime_s')} s")
    print(f"total: {total / 2**20:.2f} MiB (limit {LIMIT_MB:g} MiB)")
    if total > LIMIT_MB * 2**20:
        problems.append(f"the models take {total / 2**20:.1f} MiB, over {LIMIT_MB:g} MiB")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    return 1 if problems else 0


#: Metrics that measure the machine, not the model (06 times its training and inference).
MACHINE = ("_seconds", "_wait_fraction")


def differences(shipped: Any, measured: Any, key: str = "metrics",
                rtol: float = 1e-4, atol: float = 1e-6) -> list[str]:
    """Where ``measured`` differs from ``shipped`` (numbers beyond ``rtol``/``atol``), by ``key``.

    Timings (names ending in one of :data:`MACHINE`) are not compared.
    """
    if isinstance(shipped, dict) and isinstance(measured, dict):
        return [d for k in sorted(set(shipped) | set(measured)) if not k.endswith(MACHINE)
                for d in differences(shipped.get(k), measured.get(k), f"{key}.{k}", rtol, atol)]
    if isinstance(shipped, list) and isinstance(measured, list) and len(shipped) == len(measured):
        return [d for i, (a, b) in enumerate(zip(shipped, measured, strict=True))
                for d in differences(a, b, f"{key}[{i}]", rtol, atol)]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in (shipped, measured))
    if numbers and math.isclose(shipped, measured, rel_tol=rtol, abs_tol=atol):
        return []
    return [] if shipped == measured else [f"{key}: trained {shipped!r}, pretrained {measured!r}"]


def compare(reports: Path, out: Path, notebooks: list[str]) -> int:
    """Compare the metrics a pretrained=True run recorded in ``reports`` with each manifest's."""
    problems = []
    for notebook in notebooks:
        manifest = pretrained.read_manifest(out / notebook)
        record = json.loads((reports / f"{notebook}.metrics.json").read_text(encoding="utf-8"))
        if not record["params"].get("pretrained"):
            problems.append(f"{notebook}: {reports} holds a run with pretrained=False")
            continue
        found = differences(manifest["metrics"], record["metrics"])
        problems += [f"{notebook}: {d}" for d in found]
        print(f"{notebook}: {'same metrics' if not found else f'{len(found)} differ'}, "
              f"runtime {record.get('runtime_s')} s, peak {record.get('peak_memory_mb')} MiB")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("pack", "check", "compare"))
    parser.add_argument("--reports", type=Path, help="a preset's reports folder, e.g. "
                        "reports/pretrained-train/binder (pack, compare)")
    parser.add_argument("--out", type=Path, default=None, help="default: pretrained/")
    parser.add_argument("--notebooks", nargs="*", help="name prefixes, e.g. 06 09 (default all)")
    args = parser.parse_args(argv)
    out = (args.out or pretrained.pretrained_dir()).resolve()
    try:
        notebooks = select(args.notebooks)
        if args.command == "check":
            return check(out, notebooks)
        if args.reports is None:
            parser.error(f"{args.command} needs --reports")
        if args.command == "compare":
            return compare(args.reports.resolve(), out, notebooks)
        for notebook in notebooks:
            print("packed", pack(notebook, args.reports.resolve(), out))
        return check(out, notebooks)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
