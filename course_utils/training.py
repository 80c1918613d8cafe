"""Training: ``model.fit`` with TensorBoard logs, per-epoch checkpoints and resume (lesson 06).

A run lives in one folder, ``run_dir``::

    run_dir/logs/train, logs/validation   Keras' TensorBoard scalars (loss, metrics)
    run_dir/logs/examples                 Dice of every label and a predicted slice, per epoch
    run_dir/checkpoints/epoch_003.weights.h5   weights + optimizer state after epoch 3
    run_dir/state.json                    last finished epoch and the architecture's fingerprint

Calling :func:`fit` again with the same ``run_dir`` continues from the last
finished epoch: an interrupted run (closed laptop, Colab timeout) resumes where
it stopped, and asking for more epochs trains only the new ones. The model is
built by the caller, under the scope of :func:`get_strategy`.

Callbacks use TensorFlow (TensorBoard is TensorFlow's); the models themselves do not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import config
from course_utils.errors import ModelError
from course_utils.files import atomic_path

# Colours of the label classes in TensorBoard images: those of course_utils.viz.LABEL_COLOURS.
_COLOURS = np.array([[0x00, 0x00, 0x00], [0x2e, 0x86, 0xde], [0x27, 0xae, 0x60],
                     [0xf1, 0xc4, 0x0f], [0xe7, 0x4c, 0x3c], [0x9b, 0x59, 0xb6],
                     [0xe6, 0x7e, 0x22], [0x1a, 0xbc, 0x9c], [0xff, 0x6e, 0xc7]],
                    dtype=np.float32) / 255.0


# =============================================================================
# Input: an endless stream of class-balanced, augmented patches
# =============================================================================


def balanced_patch_dataset(
    volumes: Sequence,
    patch_size: int | Sequence[int],
    batch_size: int,
    *,
    n_classes: int,
    seed: int = 42,
    patches_per_volume: int = 8,
    class_weights: Sequence[float] | None = None,
    augment=None,
    shuffle_buffer: int | None = None,
):
    """A repeating ``tf.data`` stream of batches ``(patches [b, p, p, p, C], labels [b, p, p, p])``.

    ``volumes``: ``(image [z, y, x, C], label [z, y, x])`` pairs already in memory,
    or functions returning one (read on demand, for cohorts too big for memory).
    Each visit picks a volume at random and cuts ``patches_per_volume``
    class-balanced patches (:func:`course_utils.sampling.balanced_patches`); a
    shuffle buffer mixes patches of different subjects; ``augment(image, label,
    rng)`` (e.g. from :func:`course_utils.augmentation.compose`) runs on the fly in
    parallel; batches are prefetched while the model trains. Reproducible from ``seed``.
    """
    from course_utils import augmentation, sampling

    tf = config.require_tensorflow()
    if not len(volumes):
        raise ModelError("balanced_patch_dataset: no training volumes given")

    def load(k: int):
        item = volumes[k]
        return item() if callable(item) else item

    image0, _ = load(0)
    size = tuple(int(s) for s in np.broadcast_to(np.asarray(patch_size), (3,)))
    channels = np.asarray(image0).shape[-1]

    def generate():
        rng = np.random.default_rng(seed)
        while True:
            image, label = load(int(rng.integers(len(volumes))))
            patches, labels = sampling.balanced_patches(
                image, label, size, patches_per_volume, rng, class_weights=class_weights,
                n_classes=n_classes)
            yield from zip(patches.astype(np.float32), labels.astype(np.int32), strict=True)

    dataset = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((*size, channels), tf.float32), tf.TensorSpec(size, tf.int32)))
    dataset = dataset.shuffle(shuffle_buffer or 4 * patches_per_volume, seed=seed)
    if augment is not None:
        dataset = augmentation.map_dataset(dataset, augment, seed=seed)
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


# =============================================================================
# Devices: strategy and mixed precision
# =============================================================================


def _gpu_capabilities() -> list[tuple[int, int]]:
    tf = config.require_tensorflow()
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    return capabilities


def get_strategy(mixed_precision: bool | str = "auto", verbose: bool = True):
    """The ``tf.distribute`` strategy for this machine, and the precision policy set for Keras.

    Several GPUs: ``MirroredStrategy`` (one model replica per GPU); otherwise the
    default strategy. ``mixed_precision="auto"`` computes in float16 (weights and
    softmax stay float32) on GPUs of compute capability >= 7.0, which have tensor
    cores, and never on a CPU. Build and compile the model inside
    ``with strategy.scope():``, after this call.
    """
    import keras

    tf = config.require_tensorflow()
    capabilities = _gpu_capabilities()
    if len(capabilities) > 1:
        strategy = tf.distribute.MirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    supported = bool(capabilities) and all(cc >= (7, 0) for cc in capabilities)
    if mixed_precision == "auto":
        use_mixed = supported
    elif isinstance(mixed_precision, bool):
        use_mixed = mixed_precision and bool(capabilities)
        if mixed_precision and not capabilities and verbose:
            print("mixed precision needs a GPU; computing in float32 on this CPU")
    else:
        raise ModelError(f"mixed_precision must be True, False or 'auto', got {mixed_precision!r}")
    keras.mixed_precision.set_global_policy("mixed_float16" if use_mixed else "float32")
    if verbose:
        devices = f"{len(capabilities)} GPU(s)" if capabilities else "CPU"
        print(f"strategy: {type(strategy).__name__} on {devices}, "
              f"{strategy.num_replicas_in_sync} replica(s); precision: "
              f"{'mixed float16' if use_mixed else 'float32'}")
    return strategy


# =============================================================================
# Checkpoints and resume
# =============================================================================


def architecture_fingerprint(model) -> str:
    """A string that changes when the architecture changes: every weight's shape, in order."""
    shapes = ";".join("x".join(str(d) for d in w.shape) for w in model.weights)
    return f"{len(model.weights)}|{shapes}"


def _state_path(run_dir: Path) -> Path:
    return run_dir / "state.json"


def read_state(run_dir: str | Path) -> dict[str, Any] | None:
    """What ``run_dir/state.json`` says about a run (last epoch, checkpoint file), or None."""
    path = _state_path(Path(run_dir))
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{path} is unreadable ({exc}); delete the run folder {path.parent} "
            "to start this run afresh"
        ) from exc


def _checkpoint_callback(run_dir: Path, fingerprint: str, keep: int):
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        """Save weights and optimizer state after every epoch; keep the last ``keep`` files."""

        def on_epoch_end(self, epoch, logs=None):
            folder = run_dir / "checkpoints"
            path = folder / f"epoch_{epoch + 1:03d}.weights.h5"
            with atomic_path(path, suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
            state = {"epoch": epoch + 1, "checkpoint": str(path.relative_to(run_dir)),
                     "fingerprint": fingerprint}
            with atomic_path(_state_path(run_dir)) as tmp:
                tmp.write_text(json.dumps(state, indent=1), encoding="utf-8")
            for old in sorted(folder.glob("epoch_*.weights.h5"))[:-keep]:
                old.unlink(missing_ok=True)

    return EpochCheckpoint()


def restore(model, run_dir: str | Path) -> int:
    """Load the last checkpoint of ``run_dir`` into ``model``; return its epoch (0 if none)."""
    run_dir = Path(run_dir)
    state = read_state(run_dir)
    if state is None:
        return 0
    advice = (f"delete the folder {run_dir} to start afresh, or give this model "
              "another run name (run_dir)")
    if state.get("fingerprint") != architecture_fingerprint(model):
        raise ModelError(
            f"the checkpoints in {run_dir} were saved by a model with another architecture "
            f"(different layers or filters); {advice}"
        )
    path = run_dir / state["checkpoint"]
    if not path.exists():
        raise ModelError(f"{run_dir}/state.json names {path}, which is missing; {advice}")
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:  # Keras raises ValueError/KeyError for mismatched files
        raise ModelError(f"could not load checkpoint {path} into this model ({exc}); {advice}") from exc
    return int(state["epoch"])


# =============================================================================
# TensorBoard: per-label Dice and a predicted slice
# =============================================================================


def _dice_per_label(pred: np.ndarray, truth: np.ndarray, n_classes: int) -> np.ndarray:
    """Dice of each label over a batch (metrics.dice_per_class); NaN where a label is in neither."""
    from course_utils import metrics

    intersection, n_pred, n_true = metrics.confusion_counts(pred, truth, n_classes)
    dice = metrics.dice_from_counts(intersection, n_pred, n_true)
    return np.where(n_pred + n_true > 0, dice, np.nan)


def colour_labels(labels: np.ndarray) -> np.ndarray:
    """Integer label map [..] -> RGB [.., 3] in [0, 1] with the course's label colours."""
    return _COLOURS[np.clip(labels, 0, len(_COLOURS) - 1)]


def example_panel(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One middle axial slice as an RGB strip: input channel 0 | truth | prediction."""
    z = image.shape[0] // 2
    grey = image[z, ..., 0].astype(np.float32)
    low, high = np.percentile(grey, [1, 99])
    grey = np.clip((grey - low) / max(high - low, 1e-6), 0, 1)
    return np.concatenate([np.repeat(grey[..., None], 3, -1), colour_labels(truth[z]),
                           colour_labels(pred[z])], axis=1)


def _labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Integer labels from integer or one-hot targets."""
    y = np.asarray(y)
    if y.ndim == 5 and y.shape[-1] == n_classes:
        return y.argmax(-1)
    return y.reshape(y.shape[:4]).astype(np.int64)


def _example_callback(log_dir: Path, example, label_names: Mapping[int, str] | None):
    import keras

    tf = config.require_tensorflow()

    class ExampleLogger(keras.callbacks.Callback):
        """Each epoch: Dice of every label on ``example`` and its predicted middle slice."""

        def on_train_begin(self, logs=None):
            self.writer = tf.summary.create_file_writer(str(log_dir / "examples"))

        def on_epoch_end(self, epoch, logs=None):
            x, y = np.asarray(example[0]), example[1]
            probabilities = np.asarray(self.model.predict_on_batch(x), dtype=np.float32)
            n_classes = probabilities.shape[-1]
            pred, truth = probabilities.argmax(-1), _labels(y, n_classes)
            dice = _dice_per_label(pred, truth, n_classes)
            names = label_names or {k: f"label_{k}" for k in range(n_classes)}
            with self.writer.as_default(step=epoch):
                for k in range(n_classes):
                    if np.isfinite(dice[k]):
                        tf.summary.scalar(f"dice/{k}_{str(names.get(k, k)).replace(' ', '_')}",
                                          float(dice[k]))
                foreground = dice[1:][np.isfinite(dice[1:])]
                if foreground.size:
                    tf.summary.scalar("dice/mean_foreground", float(foreground.mean()))
                panel = example_panel(x[0], truth[0], pred[0])
                tf.summary.image("input | truth | prediction", panel[None], max_outputs=1)
            self.writer.flush()

        def on_train_end(self, logs=None):
            self.writer.close()

    return ExampleLogger()


def _first_batch(dataset) -> tuple[np.ndarray, np.ndarray]:
    batch = next(iter(dataset))
    return np.asarray(batch[0]), np.asarray(batch[1])


# =============================================================================
# fit
# =============================================================================


def fit(
    model,
    train_ds,
    *,
    epochs: int,
    steps_per_epoch: int,
    run_dir: str | Path,
    validation_data=None,
    validation_steps: int | None = None,
    validation_batch_size: int | None = None,
    callbacks: Iterable = (),
    example: tuple[np.ndarray, np.ndarray] | None = None,
    label_names: Mapping[int, str] | None = None,
    log_examples: bool = True,
    keep_checkpoints: int = 2,
    verbose: int | str = 0,
):
    """``model.fit`` for ``epochs`` epochs in total, resuming from ``run_dir`` if it holds a run.

    Logs to TensorBoard under ``run_dir/logs`` (losses and metrics per epoch; the
    Dice of every label and a predicted middle slice of ``example``, a batch
    ``(x, y)``, by default the first validation or training batch; ``log_examples=False``
    for models whose output is not a label map), and saves
    the weights and optimizer state after every epoch. Returns Keras' History of
    the epochs trained by this call (:func:`read_scalars` has all of them).
    Arrays given as ``validation_data`` are evaluated in batches of
    ``validation_batch_size``, by default the training batch size (Keras' own
    default, 32, can need several times the memory of a training step).
    A checkpoint from another architecture raises :class:`ModelError`.
    """
    import keras

    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ModelError("compile the model before training: model.compile(optimizer=..., loss=...)")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    initial_epoch = restore(model, run_dir)
    if initial_epoch:
        if initial_epoch >= epochs:
            print(f"{run_dir.name}: already trained for {initial_epoch} epochs "
                  f"(asked for {epochs}); nothing to do. Raise `epochs` to train more.")
        else:
            print(f"{run_dir.name}: resuming after epoch {initial_epoch} of {epochs}")
    log_dir = run_dir / "logs"
    all_callbacks = [
        keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0),
        _checkpoint_callback(run_dir, architecture_fingerprint(model), max(1, keep_checkpoints)),
        *callbacks,
    ]
    if log_examples:
        if example is None:
            example = _first_batch(validation_data if validation_data is not None else train_ds)
        all_callbacks.insert(2, _example_callback(log_dir, example, label_names))
    return model.fit(
        train_ds,
        epochs=epochs,
        initial_epoch=min(initial_epoch, epochs),
        steps_per_epoch=steps_per_epoch,
        validation_data=validation_data,
        validation_steps=validation_steps,
        validation_batch_size=(validation_batch_size or _batch_size(train_ds)
                               if isinstance(validation_data, (tuple, list)) else None),
        callbacks=all_callbacks,
        verbose=verbose,
        shuffle=not isinstance(train_ds, config.require_tensorflow().data.Dataset),
    )


def _batch_size(dataset) -> int | None:
    """The static batch size of a ``tf.data`` dataset batched with ``drop_remainder=True``, else None."""
    spec = getattr(dataset, "element_spec", None)
    first = spec[0] if isinstance(spec, tuple) else spec
    shape = getattr(first, "shape", None)
    if shape is None or shape.rank is None or shape.rank == 0:
        return None
    return shape[0]


# =============================================================================
# Reading the logs back (matplotlib fallback for TensorBoard)
# =============================================================================


def read_scalars(run_dir: str | Path):
    """All scalars logged under ``run_dir/logs`` as a DataFrame: run, tag, step, value, wall_time.

    ``run`` is the log subfolder (``train``, ``validation``, ``examples``). When
    a step was logged twice (a resumed run), the later value is kept.
    """
    import pandas as pd

    tf = config.require_tensorflow()
    root = Path(run_dir) / "logs"
    rows = []
    for path in sorted(root.rglob("events.out.tfevents.*")):
        run = path.parent.relative_to(root).as_posix()
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.metadata.plugin_data.plugin_name == "scalars":
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    continue
                rows.append((run, value.tag, int(event.step), number, float(event.wall_time)))
    frame = pd.DataFrame(rows, columns=["run", "tag", "step", "value", "wall_time"])
    frame = frame.sort_values("wall_time").drop_duplicates(["run", "tag", "step"], keep="last")
    return frame.sort_values(["run", "tag", "step"]).reset_index(drop=True)


def logged_history(run_dir: str | Path) -> dict[str, list[float]]:
    """The logged scalars of every epoch as a Keras-History-like dict (for ``viz.plot_history``).

    ``train/epoch_loss`` -> ``loss``, ``validation/epoch_loss`` -> ``val_loss``,
    ``examples/dice/1_CSF`` -> ``example dice CSF``; ``epoch`` holds the epoch numbers (1-based).
    """
    scalars = read_scalars(run_dir)
    history: dict[str, list[float]] = {}
    steps: set[int] = set()
    for (run, tag), group in scalars.groupby(["run", "tag"], sort=False):
        if run == "train" and tag.startswith("epoch_"):
            key = tag[len("epoch_"):]
        elif run == "validation" and tag.startswith("epoch_"):
            key = "val_" + tag[len("epoch_"):]
        elif run == "examples":
            key = "example " + tag.replace("/", " ").replace("_", " ")
            key = " ".join(word for word in key.split() if not word.isdigit())
        else:
            continue
        if key in ("learning_rate",):
            continue
        history[key] = group.sort_values("step").value.tolist()
        steps.update(int(s) for s in group.step)
    history["epoch"] = [s + 1 for s in sorted(steps)]
    return history


def scalar_table(scalars, tags: Sequence[str] | None = None):
    """Wide table of :func:`read_scalars` output: one row per epoch, one column per run/tag."""
    frame = scalars if tags is None else scalars[scalars.tag.isin(tags)]
    wide = frame.pivot_table(index="step", columns=["run", "tag"], values="value")
    wide.columns = [f"{run}/{tag}" for run, tag in wide.columns]
    return wide


# =============================================================================
# Does the input pipeline keep up?
# =============================================================================


def measure_input_wait(model, dataset, steps: int = 20, warmup: int = 3) -> dict[str, float]:
    """Time spent waiting for the next batch vs. computing a training step, per step.

    Trains ``model`` for ``warmup + steps`` more steps (run it after evaluation,
    or on a copy). ``wait_fraction`` = wait / (wait + step): under 0.1 means the
    input pipeline keeps the model busy.
    """
    iterator = iter(dataset)
    for _ in range(warmup):
        model.train_on_batch(*next(iterator)[:2])
    wait = compute = 0.0
    for _ in range(steps):
        start = time.perf_counter()
        batch = next(iterator)
        fetched = time.perf_counter()
        model.train_on_batch(*batch[:2])
        compute += time.perf_counter() - fetched
        wait += fetched - start
    return {"wait_s": wait / steps, "step_s": compute / steps,
            "wait_fraction": wait / max(wait + compute, 1e-12)}
