"""How fast can TensorFlow be fed 3D volumes? The I/O benchmark of lesson 02.

Reproduces the reference benchmark's workload (whole volumes of
128x224x224x1, batch 5, 100 iterations) at a preset's example shape, for:

* ``memory``      from memory (whitened volumes held in RAM)
* ``tfr_floats``  TFRecords, image stored as a float list (DLTK's way)   [second copy]
* ``tfr_bytes``   TFRecords, image stored as raw bytes                   [second copy]
* ``generator``   DLTK read_fn + from_generator, SimpleITK, .nii.gz, one Python thread
* ``stream_gz``   parallel tf.data reads + decoding of .nii.gz files       (no second copy)
* ``stream_nii_1`` the same from uncompressed .nii, one call at a time     (no second copy)
* ``stream_nii``  parallel reads + decoding of uncompressed .nii            (no second copy)

and, with ``--patches``, a patch workload (random patches of half the shape):
``memory_patch``, ``generator_patch`` and ``memmap_patch`` (patch bytes only,
uncompressed .nii through numpy memmap); ``monai`` (Dataset + DataLoader) and
``torchio`` (Queue) when those packages are importable (skipped otherwise).

``--workload seed`` is the seed's: 100 batches of 5 whitened 128x224x224 random crops
from 150x256x256 volumes (``--subjects`` of them, few by default: they are cycled):
``stream_gz_crop`` (.nii.gz, one inflate per visit), ``stream_nii_crop`` (.nii, crop
bytes only), MONAI and TorchIO, against the gunzip floor and the crop floor.

Physical floors are timed in the same rounds, in the same process: ``floor_read``
(numpy ``fromfile`` + cast + whiten of the same number of volumes, on all cores;
``floor_read_1`` on one), ``floor_gunzip`` (zlib decompression of the .nii.gz files
alone, all cores) and ``floor_patch`` (memmap patch reads + normalisation). Every
pipeline gets a ratio to in-memory and to its floor (``.nii`` -> read floor,
``.nii.gz`` -> gunzip floor, patches -> patch floor), and CPU seconds (all threads),
which a machine busy with other work inflates less than wall time.

Timings: all configurations are timed in one process, round robin, ``--repeats``
rounds (a busy machine slows them alike); each run takes a fresh iterator, 2
warm-up batches, then ``--iterations`` timed batches; we report medians, and ratios
to in-memory taken within each round. Memory: each configuration runs again in its
own Python process, so its peak resident memory (``ru_maxrss``) is its own. Streaming configurations are also
run on a cohort ``--scale`` times larger to show that their memory does not grow
with the number of subjects. The volumes are synthetic (an ellipsoid "head" with
smooth texture and noise, int16 like scanner output), written by this script
(``--workdir``), because the cohort does not come at the reference shape.

    python benchmarks/io_benchmark.py                    # binder shape, table
    python benchmarks/io_benchmark.py --preset ci --json reports/io_benchmark.json
    python benchmarks/io_benchmark.py --workload seed --subjects 10 --iterations 40
"""

# One file (~500 lines) on purpose: it re-runs itself as its own worker process (--worker)
# to measure each configuration's memory alone, and is copied around as one script.
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _torch_loaders import INSTALL, TORCH_CONFIGS  # noqa: E402  benchmarks/_torch_loaders.py
from _torch_loaders import available as available_torch_configs  # noqa: E402

#: The reference figures (seconds for 100 batches of 5 volumes of 128x224x224x1).
REFERENCE = {"memory": 5.6, "tfrecords": 31.1, "generator": 123.5}

CONFIGS = {
    # name: (method family for the reference column, keeps a second copy?, description)
    "memory": ("memory", False, "in memory, from_tensor_slices-style"),
    "tfr_floats": ("tfrecords", True, "TFRecords, float list (DLTK)"),
    "tfr_bytes": ("tfrecords", True, "TFRecords, raw bytes, parallel parse"),
    "generator": ("generator", False, "generator: read_fn + SimpleITK (.nii.gz)"),
    "stream_gz": (None, False, "parallel tf.data read + gunzip (.nii.gz)"),
    "stream_nii_1": (None, False, "tf.data read (.nii), num_parallel_calls=1"),
    "stream_nii": (None, False, "parallel tf.data read (.nii)"),
}
PATCH_CONFIGS = {
    "memory_patch": ("memory", False, "patches: in memory, random crop"),
    "generator_patch": ("generator", False, "patches: read_fn example_size (.nii.gz)"),
    "memmap_patch": (None, False, "patches: memmap of .nii, patch bytes only"),
}
SEED_CONFIGS = {
    "stream_gz_crop": (None, False, "crops streamed from .nii.gz (one inflate per visit)"),
    "stream_nii_crop": (None, False, "crops streamed from .nii (memmap, crop bytes only)"),
}
#: the seed's workload: volume shape, crop, batch, iterations
SEED = {"shape": (150, 256, 256), "crop": (128, 224, 224), "batch": 5, "iterations": 100}
STREAMING = ("stream_gz", "stream_nii", "memmap_patch", "stream_gz_crop", "stream_nii_crop")
#: floor of each configuration (None: none applies)
FLOOR_OF = {"stream_nii": "floor_read", "stream_nii_1": "floor_read_1",
            "stream_gz": "floor_gunzip", "generator": "floor_gunzip", "monai": "floor_gunzip",
            "torchio": "floor_gunzip", "memory": "floor_read", "tfr_bytes": "floor_read",
            "tfr_floats": "floor_read", "memmap_patch": "floor_patch",
            "memory_patch": "floor_patch", "generator_patch": "floor_patch",
            "stream_gz_crop": "floor_gunzip", "stream_nii_crop": "floor_patch"}


# =============================================================================
# The synthetic database
# =============================================================================


def make_database(root: Path, n: int, shape: tuple[int, int, int], tfrecords: bool = True,
                  quiet: bool = False) -> dict:
    """Write ``n`` volumes as .nii.gz and .nii (and TFRecords of the first ``n``); reuse files."""
    import SimpleITK as sitk

    from course_utils import io, pipelines, preprocessing

    tag = "x".join(map(str, shape))
    folder = root / tag
    t0 = time.perf_counter()
    files = pipelines.write_synthetic_volumes(folder, n, shape)
    gz, nii = files["gz"], files["nii"]
    records = {}
    if tfrecords:
        for encoding in pipelines.ENCODINGS:
            name = folder / f"n{n}_{encoding}.tfrecord"
            spec = folder / f"n{n}_{encoding}.json"
            if not spec.is_file():
                def examples(paths=gz):
                    for p in paths:
                        x = sitk.GetArrayFromImage(io.read_image(p)).astype(np.float32)
                        yield preprocessing.whiten(x)[..., None], None
                files = pipelines.write_tfrecords(name, examples(), shards=4, encoding=encoding)
            else:
                files = [folder / s for s in json.loads(spec.read_text(encoding="utf-8"))["shards"]]
            records[encoding] = [str(f) for f in files]
    if not quiet:
        print(f"database: {n} volumes of {tag} in {folder} ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr)
    return {"gz": gz, "nii": nii, "tfrecords": records}


# =============================================================================
# One configuration (run in a worker process)
# =============================================================================


def build(name: str, db: dict, shape, batch: int, seed: int = 42, crop=None):
    """The pipeline of configuration ``name`` over database ``db`` (``crop``: the seed's
    crop size; None: half the shape for ``*_patch``, whole volumes otherwise)."""
    import SimpleITK as sitk

    from course_utils import io, pipelines, preprocessing

    half = tuple(crop or (max(1, s // 2) for s in shape))
    if name in ("memory", "memory_patch"):
        images = np.stack([preprocessing.whiten(
            sitk.GetArrayFromImage(io.read_image(p)).astype(np.float32)) for p in db["gz"]])
        return pipelines.memory_dataset(images[..., None], batch_size=batch, seed=seed,
                                        patch_size=half if name == "memory_patch" else None)
    if name.startswith("tfr_"):
        encoding = "float_list" if name == "tfr_floats" else "bytes"
        return pipelines.tfrecord_dataset(db["tfrecords"][encoding][0], batch_size=batch,
                                          seed=seed)
    if name in ("generator", "generator_patch"):
        rows = [{"subject_id": str(k), "t1": p} for k, p in enumerate(db["gz"])]
        params = {"sequences": ["t1"], "seed": seed}
        if name == "generator_patch":
            params.update(example_size=half, n_examples=1)
        return pipelines.generator_dataset(rows, "predict" if name == "generator" else "train",
                                           params, batch_size=batch, repeat=True)
    if name == "stream_gz":
        return pipelines.nifti_dataset(db["gz"], batch_size=batch, seed=seed)
    if name == "stream_nii":
        return pipelines.nifti_dataset(db["nii"], batch_size=batch, seed=seed)
    if name == "stream_nii_1":
        return pipelines.nifti_dataset(db["nii"], batch_size=batch, seed=seed,
                                       num_parallel_calls=1, prefetch=1)
    if name in ("memmap_patch", "stream_nii_crop", "stream_gz_crop"):
        files = db["gz"] if name == "stream_gz_crop" else db["nii"]
        return pipelines.nifti_dataset(files, batch_size=batch, seed=seed, patch_size=half)
    if name in TORCH_CONFIGS:
        from _torch_loaders import loader

        return loader(name, db["gz"], crop or shape, batch)
    raise SystemExit(f"unknown configuration {name!r}")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floors(names: list[str], db: dict, shape, batch: int, iterations: int,
           crop=None) -> dict:
    """The floor measurements this run needs: name -> a function returning a Timing (all on
    every core, as the pipelines; ``floor_read_1`` on one)."""
    from course_utils import pipelines

    cores, n = os.cpu_count() or 1, batch * iterations
    half = tuple(crop or (max(1, s // 2) for s in shape))
    every = {
        "floor_read_1": lambda: pipelines.read_floor(db["nii"], n, workers=1),
        "floor_read": lambda: pipelines.read_floor(db["nii"], n, workers=cores),
        "floor_gunzip": lambda: pipelines.gunzip_floor(db["gz"], n, workers=cores),
        "floor_patch": lambda: pipelines.patch_floor(db["nii"], half, n, workers=cores),
    }
    wanted = {FLOOR_OF[name] for name in names if name in FLOOR_OF}
    wanted |= {"floor_read_1"} if "stream_nii" in names else set()  # one core, for reference
    return {k: f for k, f in every.items() if k in wanted}


def time_configs(names: list[str], db: dict, shape, batch: int, iterations: int,
                 repeats: int, log=print, crop=None) -> dict[str, dict]:
    """Time every configuration and floor in turn, ``repeats`` rounds (round robin, so that
    a busy machine slows all of them alike); each run: a fresh iterator, 2 warm-up batches,
    then ``iterations`` timed batches. Ratios are taken within each round."""
    from course_utils import pipelines

    datasets, results, floor_fns = {}, {}, floors(names, db, shape, batch, iterations, crop)
    for name in names:
        t0 = time.perf_counter()
        datasets[name] = build(name, db, shape, batch, crop=crop)
        results[name] = {"name": name, "build_s": time.perf_counter() - t0}
    for r in range(repeats):
        for name, work in floor_fns.items():
            results.setdefault(name, {"name": name}).setdefault("runs", []).append(work())
        for name in names:
            run = pipelines.time_run(datasets[name], iterations, warmup=2)
            results[name].setdefault("runs", []).append(run)
        log(f"  round {r + 1}/{repeats}: " + ", ".join(
            f"{n} {results[n]['runs'][-1].wall:.2f}s" for n in [*floor_fns, *names]))
    for name, res in results.items():
        res["all_seconds"] = [t.wall for t in res["runs"]]
        res["seconds"] = statistics.median(res["all_seconds"])
        res["cpu_seconds"] = statistics.median(t.cpu for t in res["runs"])
        memory = "memory_patch" if name.endswith("_patch") else "memory"
        for key, base in (("ratio", memory), ("floor_ratio", FLOOR_OF.get(name))):
            if base in results and base != name:
                ratios = [a / b for a, b in zip(res["all_seconds"],
                                                [t.wall for t in results[base]["runs"]],
                                                strict=True)]
                res[key] = statistics.median(ratios)
                res[key + "_range"] = [min(ratios), max(ratios)]
    return results


def measure_memory(name: str, db: dict, shape, batch: int, iterations: int,
                   crop=None) -> dict:
    """Peak resident memory of building and running one configuration in this process.

    ``peak_mb`` is the process's ``ru_maxrss`` (TensorFlow's own start-up included);
    ``pipeline_peak_mb`` is the highest resident memory sampled every 2 ms while the
    pipeline is built and iterated, minus the resident memory just before.
    """
    import tensorflow as tf

    from course_utils import pipelines

    tf.constant(0.0)  # start the runtime before the baseline is taken
    baseline = pipelines.timing.resident_mb()

    def work() -> None:
        it = iter(build(name, db, shape, batch, crop=crop))
        for _ in range(iterations):
            next(it)
    growth = pipelines.timing.memory_growth(work)
    return {"name": name, "baseline_mb": baseline, "peak_mb": _peak_mb(),
            "pipeline_peak_mb": growth}


def _worker(spec: dict) -> None:
    result = measure_memory(spec["name"], spec["db"], spec["shape"], spec["batch"],
                            spec["iterations"], spec.get("crop"))
    print("RESULT " + json.dumps(result))


def memory_in_subprocess(spec: dict, timeout: float = 1800) -> dict:
    """Measure one configuration's peak memory in a fresh Python process."""
    cmd = [sys.executable, __file__, "--worker", json.dumps(spec)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"configuration {spec['name']} failed:\n{out.stderr[-3000:]}")


# =============================================================================
# Main
# =============================================================================


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    from course_utils import config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="binder", choices=config.PRESET_NAMES)
    ap.add_argument("--workload", default="preset", choices=["preset", "seed"],
                    help="preset: whole volumes at the preset's shape; seed: the seed's "
                         "128x224x224 crops of 150x256x256 volumes (.nii.gz and .nii)")
    ap.add_argument("--shape", type=int, nargs=3, help="z y x (default: the preset's)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--iterations", type=int, help="batches per timed run (reference: 100)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--subjects", type=int, help="volumes in the database (20; seed: 10)")
    ap.add_argument("--scale", type=int, default=None,
                    help="memory check: also run streaming configs on subjects*scale volumes "
                         "(default 4, seed 1; 1: skip the memory measurements)")
    ap.add_argument("--configs", nargs="+", help="subset of configurations to run")
    ap.add_argument("--patches", action="store_true", help="also run the patch workload")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the synthetic database goes (default: <data>/benchmarks/io)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from course_utils import config

    args = _arguments(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0
    shape, crop, batch, iterations, names = _workload(args)
    workdir = args.workdir or config.data_dir() / "benchmarks" / "io"
    torch = available_torch_configs()
    names += torch
    if args.configs:
        names = [n for n in names if n in args.configs]
    big_n = args.subjects * args.scale
    db_big = make_database(workdir, big_n, shape, tfrecords=False) if args.scale > 1 else None
    db = make_database(workdir, args.subjects, shape, tfrecords=crop is None)

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"I/O benchmark: {args.subjects} volumes of {shape} (z, y, x), crops {crop}, batch "
        f"{batch}, {iterations} iterations, median of {args.repeats}; {os.cpu_count()} CPU "
        f"cores; MONAI/TorchIO: {', '.join(torch) or 'not installed (' + INSTALL + ')'}")
    load_before = os.getloadavg()[0]
    results = time_configs(names, db, shape, batch, iterations, args.repeats, log, crop)
    load_after = os.getloadavg()[0]
    if args.scale > 1:
        for name in names:
            _memory(results[name], db, db_big, shape, batch, max(5, iterations // 5), log,
                    crop)
    summary = {
        "shape": list(shape), "crop": crop and list(crop), "batch": batch,
        "iterations": iterations,
        "subjects": args.subjects, "subjects_large": big_n if args.scale > 1 else None,
        "cpu_count": os.cpu_count(), "repeats": args.repeats,
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "torch_comparisons": torch,
        "rows": [_row(name, results[name]) for name in [*results]],
    }
    summary["targets"] = targets(summary["rows"])
    _print_table(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _workload(args: argparse.Namespace) -> tuple:
    """``(shape, crop, batch, iterations, configurations)`` of the chosen workload; fills in
    ``args.subjects`` and ``args.scale`` where they were not given."""
    from course_utils import config

    if args.workload == "seed":
        args.subjects, args.scale = args.subjects or 10, args.scale or 1
        return (tuple(args.shape or SEED["shape"]), SEED["crop"], args.batch or SEED["batch"],
                args.iterations or SEED["iterations"], list(SEED_CONFIGS))
    knobs = config.preset_defaults("02_io_benchmark", args.preset)
    args.subjects, args.scale = args.subjects or 20, args.scale or 4
    names = list(CONFIGS) + (list(PATCH_CONFIGS) if args.patches else [])
    return (tuple(args.shape or knobs["example_shape"]), None,
            args.batch or knobs["batch_size"], args.iterations or knobs["iterations"], names)


def _memory(r: dict, db: dict, db_big: dict, shape, batch: int, iterations: int, log,
            crop=None) -> None:
    """Peak memory of one configuration (and on the larger cohort for streaming ones)."""
    name = r["name"]
    spec = {"name": name, "db": db, "shape": shape, "batch": batch,
            "iterations": iterations, "crop": crop}
    r.update(memory_in_subprocess(spec))
    if name in STREAMING or name == "memory":
        big = memory_in_subprocess({**spec, "db": db_big})
        r["pipeline_peak_mb_large"] = big["pipeline_peak_mb"]
    log(f"  {name:16s} pipeline peak {r['pipeline_peak_mb']:.0f} MB"
        + (f" (larger cohort: {r['pipeline_peak_mb_large']:.0f} MB)"
           if "pipeline_peak_mb_large" in r else ""))


def _row(name: str, r: dict) -> dict:
    """One table row: times, ratios, reference figures and memory of a configuration."""
    family, copy, text = {**CONFIGS, **PATCH_CONFIGS, **SEED_CONFIGS, **TORCH_CONFIGS}.get(
        name, (None, False, "floor: " + name.removeprefix("floor_")))
    whole = not name.endswith("_patch") and family in REFERENCE

    def rounded(key, digits=2):
        v = r.get(key)
        return None if v is None else ([round(x, digits) for x in v] if isinstance(v, list)
                                       else round(v, digits))
    return {
        "config": name, "description": text, "second_copy": copy,
        "seconds": round(r["seconds"], 3), "cpu_seconds": round(r["cpu_seconds"], 3),
        "ratio": rounded("ratio"), "ratio_range": rounded("ratio_range"),
        "floor": FLOOR_OF.get(name), "floor_ratio": rounded("floor_ratio"),
        "floor_ratio_range": rounded("floor_ratio_range"),
        "reference_s": REFERENCE[family] if whole else None,
        "reference_ratio": round(REFERENCE[family] / REFERENCE["memory"], 1) if whole else None,
        "pipeline_peak_mb": rounded("pipeline_peak_mb", 0),
        "pipeline_peak_mb_large": rounded("pipeline_peak_mb_large", 0),
        "all_seconds": rounded("all_seconds", 3),
    }


def targets(rows: list[dict]) -> dict[str, bool | None]:
    """Issue #16's targets measured in this run, each True (met) or False."""
    by = {r["config"]: r for r in rows}

    def at_most(name, key, limit):
        v = by.get(name, {}).get(key)
        return None if v is None else bool(v <= limit)
    out = {"stream_nii <= 2x memory": at_most("stream_nii", "ratio", 2.0),
           "stream_nii <= 1.5x read floor": at_most("stream_nii", "floor_ratio", 1.5),
           "memmap_patch <= 2x memory_patch": at_most("memmap_patch", "ratio", 2.0),
           "memmap_patch <= 1.5x patch floor": at_most("memmap_patch", "floor_ratio", 1.5),
           "stream_gz <= 1.2x gunzip floor": at_most("stream_gz", "floor_ratio", 1.2),
           "stream_gz_crop <= 1.2x gunzip floor": at_most("stream_gz_crop", "floor_ratio", 1.2),
           "stream_nii_crop <= 1.5x crop floor": at_most("stream_nii_crop", "floor_ratio", 1.5)}
    out = {k: v for k, v in out.items() if v is not None}
    ours = [by[n]["seconds"] for n in STREAMING if n in by]
    for other in TORCH_CONFIGS:
        if other in by and ours:
            out[f"streaming >= 2x faster than {other}"] = max(ours) * 2 <= by[other]["seconds"]
    return out


def _print_table(summary: dict) -> None:
    head = (f"{'config':15s} {'copy':4s} {'time s':>7s} {'cpu s':>6s} {'x memory':>8s} "
            f"{'x floor':>7s} {'floor':>13s} {'ref x':>6s} {'MB':>5s} {'MB big':>6s}")
    print(f"\nshape {tuple(summary['shape'])}, crops {summary['crop']}, batch {summary['batch']}, "
          f"{summary['iterations']} iterations, {summary['subjects']} subjects (big: "
          f"{summary['subjects_large']}), {summary['cpu_count']} cores, median of "
          f"{summary['repeats']}; load average {summary['load_average'][0]} -> "
          f"{summary['load_average'][1]}")
    print(head)
    print("-" * len(head))

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-".rjust(len(format(0, spec)))
    for r in summary["rows"]:
        print(f"{r['config']:15s} {('yes' if r['second_copy'] else 'no'):4s} "
              f"{r['seconds']:7.2f} {r['cpu_seconds']:6.2f} {fmt(r['ratio'], '8.2f')} "
              f"{fmt(r['floor_ratio'], '7.2f')} {(r['floor'] or '-'):>13s} "
              f"{fmt(r['reference_ratio'], '6.1f')} {fmt(r['pipeline_peak_mb'], '5.0f')} "
              f"{fmt(r['pipeline_peak_mb_large'], '6.0f')}")
    print("(time: wall seconds for all batches; cpu: CPU seconds of all threads; x floor: "
          "time / the floor's time in the same round; MB: the pipeline's peak resident memory "
          "above TensorFlow's baseline, for the cohort and the larger one)")
    print("MONAI/TorchIO: " + (", ".join(summary["torch_comparisons"])
                               or f"not installed ({INSTALL}), not compared"))
    for target, ok in summary["targets"].items():
        print(f"  {target:40s} {'-' if ok is None else ('met' if ok else 'NOT met')}")


if __name__ == "__main__":
    raise SystemExit(main())
