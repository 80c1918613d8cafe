"""Training speed of a small residual 3D U-Net on each Keras 3 backend (lesson 06).

    python benchmarks/backends.py                                  # tensorflow and torch
    python benchmarks/backends.py --python torch=/path/to/venv-torch/bin/python
    python benchmarks/backends.py --backends tensorflow jax --filters 8 16 32 --batch 2

Each backend runs in its own subprocess (Keras picks its backend once, from
``KERAS_BACKEND``, at import), optionally with another Python interpreter, so
that e.g. PyTorch can live in a separate virtual environment. The worker
builds the same model (``networks.residual_unet_3d``; each resampling variant:
the course's pooling + nearest upsampling, and DLTK's strided + transposed
convolutions), compiles it with Adam
and sparse categorical cross-entropy, trains a few warm-up steps on a random
batch of patches, then times ``train_on_batch`` steps; the table shows the
median over the timed steps. Steps use every core the process may use.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _report import save_json  # benchmarks/_report.py

ROOT = Path(__file__).resolve().parent.parent
# U-Net resampling layers: the course default, and DLTK's strided/transposed convolutions.
VARIANTS = {"pool+nearest": ("pool", "nearest"), "strided+transposed": ("strided", "transposed")}


def worker(args: argparse.Namespace) -> None:
    """Run in the subprocess: time training steps and print one JSON line."""
    sys.path.insert(0, str(ROOT))
    import keras
    import numpy as np

    from course_utils import networks

    keras.utils.set_random_seed(0)
    down, up = VARIANTS[args.variants[0]]
    model = networks.residual_unet_3d(n_classes=5, n_channels=3, filters=args.filters,
                                      patch_size=args.patch, downsampling=down, upsampling=up)
    model.compile(keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    shape = (args.batch, args.patch, args.patch, args.patch)
    x = rng.normal(size=(*shape, 3)).astype("float32")
    y = rng.integers(0, 5, size=shape).astype("int32")
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    print(json.dumps({"backend": keras.backend.backend(), "keras": keras.__version__,
                      "times": times, "params": model.count_params()}))


def run_backend(backend: str, variant: str, python: str, args: argparse.Namespace) -> dict:
    """Start a worker for ``backend`` with interpreter ``python``; return its measurement."""
    cmd = [python, __file__, "--worker", "--variants", variant,
           "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batch", str(args.batch), "--patch", str(args.patch),
           "--filters", *map(str, args.filters)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"backend": backend, "variant": variant, "error": " | ".join(tail)}
    return {**json.loads(lines[-1]), "variant": variant}


def main(argv=None) -> None:
    """Print the table (and optionally write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "torch"])
    parser.add_argument("--python", nargs="*", default=[],
                        help="BACKEND=INTERPRETER pairs (default: this Python)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--filters", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--patch", type=int, default=32)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    interpreters = dict(pair.split("=", 1) for pair in args.python)
    print(f"residual 3D U-Net, filters {args.filters}, batch {args.batch} x {args.patch}^3 x 3 "
          f"channels, {args.steps} timed steps after {args.warmup} warm-up, "
          f"{os.cpu_count()} CPU cores visible\n")
    rows = []
    for variant in args.variants:
        for backend in args.backends:
            rows.append(run_backend(backend, variant, interpreters.get(backend, sys.executable),
                                    args))
    base = None
    print(f"{'backend':<12} {'resampling':<20} {'median step (s)':>16} {'steps/s':>8} "
          f"{'vs first':>9}")
    for row in rows:
        if "error" in row:
            print(f"{row['backend']:<12} {row['variant']:<20} failed: {row['error']}")
            continue
        median = statistics.median(row["times"])
        row["median_step_s"], row["steps_per_s"] = median, 1 / median
        base = base or row["steps_per_s"]
        print(f"{row['backend']:<12} {row['variant']:<20} {median:>16.3f} {1 / median:>8.2f} "
              f"{row['steps_per_s'] / base:>8.1f}x")
    save_json(rows, args.json)


if __name__ == "__main__":
    main()
