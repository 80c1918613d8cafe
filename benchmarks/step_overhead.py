"""Training-step overhead of notebooks 06-10: the bare model step vs the notebook's step.

    python benchmarks/step_overhead.py                           # 06-10 at binder
    python benchmarks/step_overhead.py --notebooks 06 07 --steps 6 --repeats 2
    python benchmarks/step_overhead.py --root before=/tmp/old-checkout   # before/after

Each notebook runs in its own subprocess, which executes the notebook's own code
cells (parameters injected as papermill would, knobs of ``config.preset_defaults``)
up to and including its training cell, so model, metrics, callbacks and dataset
are exactly the notebook's. Its ``fit`` runs ``repeats`` epochs of
``warmup + steps`` steps; a callback times every step (input fetch, train
function and per-step callbacks: what a learner waits for). At each epoch end the
same callback times ``steps`` bare steps: a clone of the model compiled with the
same optimizer and loss, no metrics, ``train_on_batch`` on one fixed in-memory
batch, no callbacks. The table shows medians, their ratio and the notebook's own
input-wait measure (``training.measure_input_wait``) after training. Bare and
notebook steps alternate within one process, so a busy machine slows both alike.

``--root NAME=DIR`` (repeatable) also runs another checkout of the course (e.g.
``git archive <commit> | tar -x -C DIR``) in the same session, for before/after tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import save_json  # benchmarks/_report.py

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = {"06": "06_segmentation", "07": "07_age_regression", "08": "08_sex_classification",
             "09": "09_representation_learning", "10": "10_super_resolution"}


def _code_cells(path: Path) -> list[tuple[list[str], str]]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return [(cell["metadata"].get("tags", []), "".join(cell["source"]))
            for cell in notebook["cells"] if cell["cell_type"] == "code"]


def _bare_step(model, dataset, warmup: int):
    """A clone of ``model`` compiled with its optimizer and loss, no metrics; one fixed batch."""
    import keras
    import numpy as np

    x, y = (np.asarray(t) for t in next(iter(dataset)))
    bare = keras.models.clone_model(model)
    optimizer = type(model.optimizer).from_config(model.optimizer.get_config())
    bare.compile(optimizer=optimizer, loss=model.loss, jit_compile=model.jit_compile)
    for _ in range(warmup):
        bare.train_on_batch(x, y)
    return lambda: bare.train_on_batch(x, y)


def _timer_callback(namespace: dict, steps: int, warmup: int):
    """A Keras callback timing each notebook step, and bare steps at each epoch end."""
    import keras

    class Timer(keras.callbacks.Callback):
        notebook: list[float] = []
        bare: list[float] = []

        def on_train_begin(self, logs=None):
            # the notebook's cell has built its dataset by now (09, 10 build it with the fit)
            self.bare_step = _bare_step(namespace["model"], namespace["train_ds"], warmup)

        def on_epoch_begin(self, epoch, logs=None):
            self.last = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if batch >= warmup:
                self.notebook.append(now - self.last)
            self.last = now

        def on_epoch_end(self, epoch, logs=None):
            for _ in range(steps):
                start = time.perf_counter()
                self.bare_step()
                self.bare.append(time.perf_counter() - start)

    return Timer()


def _with_callback(fit, callback):
    """``fit`` with ``callback`` added to the callbacks it is given."""
    def wrapped(*args, callbacks=(), **kwargs):
        return fit(*args, callbacks=[*callbacks, callback], **kwargs)
    return wrapped


def worker(notebook: str, steps: int, warmup: int, repeats: int) -> None:
    """Run in the subprocess: the notebook's cells up to training, timed; print one JSON line."""
    import matplotlib

    matplotlib.use("Agg")
    cells = _code_cells(Path("notebooks") / f"{notebook}.ipynb")
    namespace: dict = {"__name__": "__main__"}
    timer = None
    for tags, source in cells[1:]:  # cell 0 is the Colab setup
        if "parameters" in tags:
            source += (f"\npreset = 'binder'\nepochs = {repeats}\n"
                       f"steps_per_epoch = {warmup + steps}\npretrained = False\n")
            if notebook.startswith("06"):
                source += "restart = True\n"
        is_training = ".fit(" in source and "run_dir" in source
        if is_training:
            timer = _timer_callback(namespace, steps, warmup)
            namespace["model"].fit = _with_callback(namespace["model"].fit, timer)
        exec(compile(source, f"{notebook}.ipynb", "exec"), namespace)  # noqa: S102
        if is_training:
            break
    from course_utils import training

    del namespace["model"].fit
    wait = training.measure_input_wait(namespace["model"], namespace["train_ds"],
                                       steps=steps, warmup=warmup)
    print(json.dumps({"notebook": notebook, "notebook_s": timer.notebook, "bare_s": timer.bare,
                      "wait_fraction": wait["wait_fraction"]}))


def run(root: Path, notebook: str, args: argparse.Namespace) -> dict:
    """One worker subprocess for ``notebook`` of the checkout ``root``; its measurement."""
    with tempfile.TemporaryDirectory(prefix="step_overhead_") as reports:
        env = {**os.environ, "PYTHONPATH": str(root), "COURSE_REPORTS_DIR": reports,
               "TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", notebook,
               "--steps", str(args.steps), "--warmup", str(args.warmup),
               "--repeats", str(args.repeats)]
        done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"notebook"')]
    if done.returncode or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"notebook": notebook, "error": " | ".join(tail)}
    return json.loads(lines[-1])


def main(argv=None) -> None:
    """Print the table: bare step, notebook step, their ratio and the input wait."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), choices=list(NOTEBOOKS))
    parser.add_argument("--steps", type=int, default=8, help="timed steps per epoch")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per epoch")
    parser.add_argument("--repeats", type=int, default=2, help="epochs (bare/notebook rounds)")
    parser.add_argument("--root", action="append", default=[],
                        help="NAME=DIR: also measure the checkout in DIR (repeatable)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.steps, args.warmup, args.repeats)
        return
    roots = dict(pair.split("=", 1) for pair in args.root)
    roots["this"] = str(ROOT)
    print(f"binder knobs; {args.repeats} epochs of {args.warmup} warm-up + {args.steps} timed "
          f"steps, as many bare steps per epoch; {os.cpu_count()} CPU cores visible\n")
    print(f"{'checkout':<10} {'notebook':<28} {'bare (s)':>9} {'notebook (s)':>13} "
          f"{'ratio':>6} {'input wait':>11}")
    rows = []
    for notebook in args.notebooks:
        for name, root in roots.items():
            row = {"checkout": name, **run(Path(root), NOTEBOOKS[notebook], args)}
            rows.append(row)
            if "error" in row:
                print(f"{name:<10} {row['notebook']:<28} failed: {row['error']}", flush=True)
                continue
            bare, step = statistics.median(row["bare_s"]), statistics.median(row["notebook_s"])
            row.update(bare_median_s=bare, notebook_median_s=step, ratio=step / bare)
            print(f"{name:<10} {row['notebook']:<28} {bare:>9.3f} {step:>13.3f} "
                  f"{step / bare:>5.2f}x {100 * row['wait_fraction']:>10.1f}%", flush=True)
    save_json(rows, args.json)


if __name__ == "__main__":
    main()
