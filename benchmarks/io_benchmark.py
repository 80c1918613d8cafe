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
uncompressed .nii through numpy memmap).

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
"""

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
STREAMING = ("stream_gz", "stream_nii", "memmap_patch")


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


def build(name: str, db: dict, shape, batch: int, seed: int = 42):
    """The tf.data pipeline of configuration ``name`` over database ``db``."""
    import SimpleITK as sitk

    from course_utils import io, pipelines, preprocessing

    half = tuple(max(1, s // 2) for s in shape)
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
    if name == "memmap_patch":
        return pipelines.nifti_dataset(db["nii"], batch_size=batch, seed=seed, patch_size=half,
                                       n_patches=1)
    raise SystemExit(f"unknown configuration {name!r}")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_configs(names: list[str], db: dict, shape, batch: int, iterations: int,
                 repeats: int, log=print) -> dict[str, dict]:
    """Time every configuration in turn, ``repeats`` rounds (round robin, so that a busy
    machine slows all of them alike); each run: a fresh iterator, 2 warm-up batches, then
    ``iterations`` timed batches. Ratios to ``memory`` are taken within each round."""
    datasets, results = {}, {}
    for name in names:
        t0 = time.perf_counter()
        datasets[name] = build(name, db, shape, batch)
        results[name] = {"name": name, "build_s": time.perf_counter() - t0, "all_seconds": []}
    for r in range(repeats):
        for name in names:
            it = iter(datasets[name])
            for _ in range(2):
                first = next(it)
            start = time.perf_counter()
            for _ in range(iterations):
                next(it)
            results[name]["all_seconds"].append(time.perf_counter() - start)
            x = first[0] if isinstance(first, tuple) else first
            results[name]["batch_shape"] = list(x.shape)
            del it
        log(f"  round {r + 1}/{repeats}: " + ", ".join(
            f"{n} {results[n]['all_seconds'][-1]:.2f}s" for n in names))
    for name in names:
        res = results[name]
        res["seconds"] = statistics.median(res["all_seconds"])
        for base in ("memory", "memory_patch"):
            if base in results and (name.endswith("_patch") == base.endswith("_patch")):
                ratios = [a / b for a, b in zip(res["all_seconds"], results[base]["all_seconds"],
                                                strict=True)]
                res["ratio"] = statistics.median(ratios)
                res["ratio_range"] = [min(ratios), max(ratios)]
    return results


def measure_memory(name: str, db: dict, shape, batch: int, iterations: int) -> dict:
    """Peak resident memory of building and running one configuration in this process.

    ``peak_mb`` is the process's ``ru_maxrss`` (TensorFlow's own start-up included);
    ``pipeline_peak_mb`` is the highest resident memory sampled every 2 ms while the
    pipeline is built and iterated, minus the resident memory just before.
    """
    import threading

    import tensorflow as tf

    tf.constant(0.0)  # start the runtime before the baseline is taken
    baseline = _rss_mb()
    highest = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            highest[0] = max(highest[0], _rss_mb())
            done.wait(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        it = iter(build(name, db, shape, batch))
        for _ in range(iterations):
            next(it)
    finally:
        done.set()
        sampler.join()
    return {"name": name, "baseline_mb": baseline, "peak_mb": _peak_mb(),
            "pipeline_peak_mb": max(highest[0], _rss_mb()) - baseline}


def _worker(spec: dict) -> None:
    result = measure_memory(spec["name"], spec["db"], spec["shape"], spec["batch"],
                            spec["iterations"])
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


def main(argv: list[str] | None = None) -> int:
    from course_utils import config

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--preset", default="binder", choices=config.PRESET_NAMES)
    ap.add_argument("--shape", type=int, nargs=3, help="z y x (default: the preset's)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--iterations", type=int, help="batches per timed run (reference: 100)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--subjects", type=int, default=20, help="volumes in the database")
    ap.add_argument("--scale", type=int, default=4,
                    help="memory check: also run streaming configs on subjects*scale volumes")
    ap.add_argument("--configs", nargs="+", help="subset of configurations to run")
    ap.add_argument("--patches", action="store_true", help="also run the patch workload")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="where the synthetic database goes (default: <data>/benchmarks/io)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.worker:
        _worker(json.loads(args.worker))
        return 0

    knobs = config.preset_defaults("02_io_benchmark", args.preset)
    shape = tuple(args.shape or knobs["example_shape"])
    batch = args.batch or knobs["batch_size"]
    iterations = args.iterations or knobs["iterations"]
    workdir = args.workdir or config.data_dir() / "benchmarks" / "io"
    names = list(CONFIGS) + (list(PATCH_CONFIGS) if args.patches else [])
    if args.configs:
        names = [n for n in names if n in args.configs]
    big_n = args.subjects * args.scale
    db_all = make_database(workdir, big_n, shape, tfrecords=False)
    db = make_database(workdir, args.subjects, shape)
    db_big = db_all  # the first `subjects` volumes are shared with `db`

    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"I/O benchmark: {args.subjects} volumes of {shape} (z, y, x), batch {batch}, "
        f"{iterations} iterations, median of {args.repeats}; {os.cpu_count()} CPU cores")
    load_before = os.getloadavg()[0]
    results = time_configs(names, db, shape, batch, iterations, args.repeats, log)
    load_after = os.getloadavg()[0]
    mem_iters = max(5, iterations // 5)
    for name in names:
        r = results[name]
        r.update(memory_in_subprocess({"name": name, "db": db, "shape": shape, "batch": batch,
                                       "iterations": mem_iters}))
        if args.scale > 1 and (name in STREAMING or name == "memory"):
            big = memory_in_subprocess({"name": name, "db": db_big, "shape": shape,
                                        "batch": batch, "iterations": mem_iters})
            r["peak_mb_large"] = big["peak_mb"]
            r["pipeline_peak_mb_large"] = big["pipeline_peak_mb"]
        log(f"  {name:16s} {r['seconds']:7.2f} s  {r.get('ratio', float('nan')):6.2f}x  "
            f"pipeline peak {r['pipeline_peak_mb']:.0f} MB"
            + (f" (n={big_n}: {r['pipeline_peak_mb_large']:.0f} MB)"
               if "pipeline_peak_mb_large" in r else ""))

    rows = []
    for name in names:
        r = results[name]
        family, copy, text = {**CONFIGS, **PATCH_CONFIGS}[name]
        whole = not name.endswith("_patch")
        rows.append({
            "config": name, "description": text, "second_copy": copy,
            "seconds": round(r["seconds"], 3),
            "ratio": round(r["ratio"], 2) if "ratio" in r else None,
            "reference_s": REFERENCE.get(family) if whole and family else None,
            "reference_ratio": (round(REFERENCE[family] / REFERENCE["memory"], 1)
                                if whole and family else None),
            "peak_mb": round(r["peak_mb"]), "pipeline_peak_mb": round(r["pipeline_peak_mb"]),
            "peak_mb_large": round(r["peak_mb_large"]) if "peak_mb_large" in r else None,
            "pipeline_peak_mb_large": (round(r["pipeline_peak_mb_large"])
                                       if "pipeline_peak_mb_large" in r else None),
            "ratio_range": [round(v, 2) for v in r["ratio_range"]] if "ratio_range" in r else None,
            "all_seconds": [round(t, 3) for t in r["all_seconds"]],
        })
    streaming = [r for r in rows if not r["second_copy"] and r["config"].startswith("stream")
                 and r["ratio"] is not None]
    best = min(streaming, key=lambda r: r["ratio"]) if streaming else None
    tfr = [r for r in rows if r["config"].startswith("tfr_") and r["ratio"] is not None]
    best_tfr = min(tfr, key=lambda r: r["ratio"]) if tfr else None
    summary = {
        "shape": list(shape), "batch": batch, "iterations": iterations,
        "subjects": args.subjects, "subjects_large": big_n if args.scale > 1 else None,
        "cpu_count": os.cpu_count(), "repeats": args.repeats,
        "load_average": [round(load_before, 2), round(load_after, 2)],
        "fastest_streaming": best and best["config"],
        "fastest_streaming_ratio": best and best["ratio"],
        "fastest_tfrecords": best_tfr and best_tfr["config"],
        "fastest_tfrecords_ratio": best_tfr and best_tfr["ratio"],
        "targets": {"streaming_within_1.5x": bool(best and best["ratio"] <= 1.5),
                    "tfrecords_within_1.5x": bool(best_tfr and best_tfr["ratio"] <= 1.5)},
        "rows": rows,
    }
    _print_table(summary)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=1), encoding="utf-8")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _print_table(summary: dict) -> None:
    small = f"MB n={summary['subjects']}"
    large = f"MB n={summary.get('subjects_large') or '-'}"
    head = (f"{'config':15s} {'2nd copy':8s} {'time s':>8s} {'x memory':>8s} {'x range':>11s} "
            f"{'ref s':>6s} {'ref x':>6s} {small:>9s} {large:>10s}")
    print(f"\nshape {tuple(summary['shape'])}, batch {summary['batch']}, "
          f"{summary['iterations']} iterations, {summary['subjects']} subjects, "
          f"{summary['cpu_count']} cores (median of {summary['repeats']}; load average "
          f"{summary['load_average'][0]} -> {summary['load_average'][1]})")
    print(head)
    print("-" * len(head))
    for r in summary["rows"]:
        spread = "{:.2f}-{:.2f}".format(*r["ratio_range"]) if r.get("ratio_range") else "-"

        def fmt(v, spec):
            return format(v, spec) if v is not None else "-".rjust(len(format(0, spec)))
        print(f"{r['config']:15s} {('yes' if r['second_copy'] else 'no'):8s} "
              f"{r['seconds']:8.2f} {fmt(r['ratio'], '8.2f')} {spread:>11s} "
              f"{fmt(r['reference_s'], '6.1f')} "
              f"{fmt(r['reference_ratio'], '6.1f')} {r['pipeline_peak_mb']:9d} "
              f"{fmt(r['pipeline_peak_mb_large'], '10d')}")
    print("(MB: the pipeline's peak resident memory above the process's TensorFlow baseline)")
    print(f"\nfastest streaming without a second copy: {summary['fastest_streaming']} at "
          f"{summary['fastest_streaming_ratio']}x in-memory (reference generator: 22x); "
          f"fastest TFRecords: {summary['fastest_tfrecords']} at "
          f"{summary['fastest_tfrecords_ratio']}x (reference: 5.6x)")


if __name__ == "__main__":
    raise SystemExit(main())
