"""How much memory does one training step take, per batch size? (binder: < 2 GB in all)

    python benchmarks/training_memory.py                       # the binder networks, batch 1-4
    python benchmarks/training_memory.py --models unet --batches 2 4 --steps 5

Each (network, batch size) runs in a fresh Python process, so peaks do not mix:
the preset's network is built and compiled as its notebook does, then trained on
random batches of the preset's input size with ``train_on_batch``. The table gives
the process's peak resident memory (``ru_maxrss``) after importing TensorFlow
and building the model, and how much the training steps added to it, with the
median seconds per step.

Why it matters: on a CPU, TensorFlow computes the gradients of 3D convolutions
with temporary im2col buffers (a copy of the input per kernel offset), one per
convolution being differentiated, so memory grows with the batch and with the
number of operations TensorFlow runs at once. ``course_utils`` runs one at a
time on machines without a GPU (``TF_NUM_INTEROP_THREADS=1``; rerun this script
with ``TF_NUM_INTEROP_THREADS=2`` to compare). On the course's 2-core machine a
step of the binder U-Net at batch 4 added 512 MiB that way against 731 MiB with
two at a time, and 226 MiB at batch 2, which is what the binder preset uses.
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

from _report import print_table, save_json  # benchmarks/_report.py

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("unet", "resnet", "autoencoder", "super_resolution")


def _model_and_batch(name: str, preset: str, batch: int):
    """The notebook's network for ``preset``, compiled, and one random training batch."""
    import keras
    import numpy as np

    from course_utils import config, losses, networks

    rng = np.random.default_rng(0)
    if name == "unet":
        p = config.resolve("06_segmentation", preset=preset)
        model = networks.residual_unet_3d(n_classes=5, n_channels=3, filters=p.filters)
        model.compile(keras.optimizers.Adam(p.learning_rate), loss=losses.DiceCrossEntropy())
        size = (p.patch_size,) * 3
        return model, rng.normal(size=(batch, *size, 3)), rng.integers(0, 5, (batch, *size))
    if name == "resnet":
        p = config.resolve("07_age_regression", preset=preset)
        model = networks.resnet_3d((None, None, None, 1), head="regression", n_outputs=1,
                                   filters=p.filters, strides=p.strides, batch_norm_momentum=0.9)
        model.compile(keras.optimizers.Adam(p.learning_rate), loss="mean_squared_error",
                      jit_compile=False)
        return model, rng.normal(size=(batch, *p.crop_size, 1)), rng.normal(size=(batch, 1))
    if name == "autoencoder":
        p = config.resolve("09_representation_learning", preset=preset)
        from course_utils.data import synthetic

        multiple = 2 ** len(p.filters)  # as the notebook: pooled by input_factor, then cropped
        xyz = synthetic.standard_shape(config.COMMON[preset]["spacing"])
        shape = [n // p.input_factor // multiple * multiple for n in reversed(xyz)]
        model = networks.autoencoder_3d((*shape, 3), latent_size=p.latent_size,
                                        filters=p.filters, batch_norm_momentum=0.9)
        model.compile(keras.optimizers.Adam(p.learning_rate), loss="mean_squared_error",
                      jit_compile=False)
        x = rng.normal(size=(batch, *shape, 3))
        return model, x, x
    if name == "super_resolution":
        p = config.resolve("10_super_resolution", preset=preset)
        model = networks.super_resolution_3d(factor=p.factor, filters=p.filters,
                                             n_layers=p.n_layers)
        model.compile(keras.optimizers.Adam(p.learning_rate), loss="mean_squared_error",
                      jit_compile=False)
        low = [s // p.factor for s in p.crop_size]
        return model, rng.normal(size=(batch, *low, 1)), rng.normal(size=(batch, *p.crop_size, 1))
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def child(name: str, preset: str, batch: int, steps: int) -> dict:
    """Runs in the fresh process: peak memory before and after the training steps."""
    import resource

    import numpy as np

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    model, x, y = _model_and_batch(name, preset, batch)
    x, y = x.astype(np.float32), y.astype(np.float32 if y.dtype.kind == "f" else np.int32)
    model.predict_on_batch(x)  # builds the model's weights
    before = peak_mib()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return {"model": name, "preset": preset, "batch": batch, "input": list(x.shape[1:]),
            "before_mib": before, "added_mib": peak_mib() - before,
            "step_s": statistics.median(times[1:] or times)}


def measure(name: str, preset: str, batch: int, steps: int) -> dict:
    """Run :func:`child` in a fresh interpreter and return its result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, preset, str(batch), str(steps)],
        capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{name} at batch {batch} failed:\n{out.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--preset", default="binder", choices=("ci", "binder", "full"))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 2, 3, 4])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        name, preset, batch, steps = args.child
        print(json.dumps(child(name, preset, int(batch), int(steps))))
        return
    rows = [measure(m, args.preset, b, args.steps) for m in args.models for b in args.batches]
    print_table(rows, [("network", "<17", lambda r: r["model"]),
                       ("input", "<16", lambda r: "x".join(str(s) for s in r["input"][:3])),
                       ("batch", ">5", lambda r: r["batch"]),
                       ("before (MiB)", ">13.0f", lambda r: r["before_mib"]),
                       ("steps add (MiB)", ">16.0f", lambda r: r["added_mib"]),
                       ("s/step", ">7.2f", lambda r: r["step_s"])])
    save_json(rows, args.json)


if __name__ == "__main__":
    main()
