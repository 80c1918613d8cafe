"""Training: ``model.fit`` with TensorBoard logs, per-epoch backups and resume (lesson 06).

A run lives in one folder (layout and naming: :mod:`course_utils.runs`). Calling
:func:`fit` again with the same ``run_dir`` continues from the last finished epoch:
an interrupted run (closed laptop, Colab timeout) resumes where it stopped, asking
for more epochs trains only the new ones, and a finished run (or a pretrained one,
:mod:`course_utils.pretrained`) is loaded without training. Training writes only
into new folders or its own, and :func:`clear_run` deletes only its own.
The model is built by the caller, under the scope of :func:`get_strategy`.

Callbacks use TensorFlow (TensorBoard is TensorFlow's); the models themselves do not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from course_utils import checks, config, run_logs
from course_utils.errors import CourseError, DataError, ModelError, ShapeError  # noqa: F401
from course_utils.files import atomic_path
from course_utils.run_logs import (  # noqa: F401  (re-exported: training.read_scalars, ...)
    _dice_per_label,
    colour_labels,
    example_callback,
    example_panel,
    logged_history,
    read_scalars,
    scalar_table,
)
from course_utils.runs import (  # noqa: F401  (re-exported: training.run_folder, ...)
    CHECKPOINTS,
    RUN_FILE,
    architecture_fingerprint,
    check_architecture,
    check_run_dir,
    clear_run,
    data_version,
    read_state,
    restore,
    run_folder,
    run_info,
)

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
    Also: ``patch_size`` (int or z, y, x); ``batch_size``; ``n_classes``; ``class_weights``,
    per class (default: uniform); ``shuffle_buffer``, patches mixed (default: automatic).
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
    ``with strategy.scope():``, after this call. ``verbose`` prints the choice.
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
        devices = (f"MirroredStrategy over {len(capabilities)} GPUs (one model copy each)"
                   if len(capabilities) > 1 else f"one device: {'GPU' if capabilities else 'CPU'}")
        print(f"{devices}; precision: {'mixed float16' if use_mixed else 'float32'}")
    return strategy


# =============================================================================
# Checkpoints and resume (keras.callbacks.BackupAndRestore; run folders: course_utils.runs)
# =============================================================================

def _backup_callback(model, run_dir: Path):
    """Keras' BackupAndRestore in ``run_dir/checkpoints``, after marking the folder as the course's."""
    import keras

    if run_info(run_dir) is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(run_dir / RUN_FILE) as tmp:
            tmp.write_text(json.dumps({"written_by": "course_utils.training.fit",
                                       "fingerprint": architecture_fingerprint(model)}, indent=1),
                           encoding="utf-8")
    # double_checkpoint: a checkpoint cut short by a crash falls back on the one before
    return keras.callbacks.BackupAndRestore(str(run_dir / CHECKPOINTS), double_checkpoint=True,
                                            delete_checkpoint=False)


def _first_batch(data) -> tuple[np.ndarray, np.ndarray]:
    """The first batch of a dataset, or the first example of arrays ``(x, y)``."""
    if isinstance(data, (tuple, list)):  # validation arrays: iterating would give x, not a batch
        return np.asarray(data[0][:1]), np.asarray(data[1][:1])
    batch = next(iter(data))
    return np.asarray(batch[0]), np.asarray(batch[1])


# =============================================================================
# fit
# =============================================================================


def _check_fit_arguments(model, train_ds, epochs, steps_per_epoch, validation_steps,
                         validation_batch_size) -> tuple[int, int, int | None, int | None]:
    """Validate :func:`fit`'s arguments (course_utils.checks); raise before anything is written."""
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ModelError("compile the model before training: model.compile(optimizer=..., loss=...)")
    epochs = checks.integer(epochs, "epochs", minimum=1)
    steps_per_epoch = checks.integer(steps_per_epoch, "steps_per_epoch", minimum=1)
    if validation_steps is not None:
        validation_steps = checks.integer(validation_steps, "validation_steps", minimum=1)
    if validation_batch_size is not None:
        validation_batch_size = checks.integer(validation_batch_size, "validation_batch_size",
                                               minimum=1)
    _check_input_shape(model, train_ds)
    return epochs, steps_per_epoch, validation_steps, validation_batch_size


def _check_input_shape(model, train_ds) -> None:
    """ShapeError if the dataset's inputs cannot enter the model (rank or a fixed size differs)."""
    spec = getattr(train_ds, "element_spec", None)
    inputs = getattr(model, "inputs", None)
    if not isinstance(spec, tuple) or not inputs or len(inputs) != 1:
        return
    given = getattr(spec[0], "shape", None)
    if given is None or given.rank is None:
        return
    wanted = tuple(inputs[0].shape)
    fits = len(wanted) == given.rank and all(
        w is None or g is None or int(w) == int(g) for w, g in zip(wanted, given, strict=True))
    if not fits:
        raise ShapeError(
            f"the training batches have shape {tuple(given)} but the model {model.name} takes "
            f"{wanted} (batch, z, y, x, channels; None = any); build the model for this data "
            "(e.g. its number of channels) or change the dataset")


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
    verbose: int | str = 0,
):
    """``model.fit`` for ``epochs`` epochs in total, resuming from ``run_dir`` if it holds a run.

    Parameters: ``model`` compiled (ModelError otherwise, or if ``run_dir`` holds
    another architecture's checkpoints); ``train_ds`` a repeating ``tf.data`` stream
    of batches; ``epochs`` total epochs, ``steps_per_epoch`` batches each (whole
    numbers >= 1); ``run_dir`` a new folder or one this function wrote (see
    :func:`check_run_dir`); ``validation_data``, ``validation_steps`` as in Keras;
    ``validation_batch_size`` for arrays, by default the training batch size (Keras'
    32 can need several times a step's memory); ``callbacks`` more Keras callbacks;
    ``example`` a batch ``(x, y)`` whose per-label Dice and predicted middle slice
    are logged every epoch (default: the first validation or training batch),
    ``label_names`` their names, ``log_examples=False`` for models that predict no
    label map; ``verbose`` as in Keras.

    Logs and per-epoch backups go to ``run_dir`` (layout: the module docstring).
    Returns Keras' History of the whole run: a run that needs no more epochs (a rerun, a
    pretrained model) is only loaded, and its curves are read from its logs.
    """
    epochs, steps_per_epoch, validation_steps, validation_batch_size = _check_fit_arguments(
        model, train_ds, epochs, steps_per_epoch, validation_steps, validation_batch_size)
    log_examples = checks.boolean(log_examples, "log_examples")
    run_dir = check_run_dir(run_dir)
    check_architecture(model, run_dir)
    if _finished(run_dir, epochs):  # nothing to train: the weights and the recorded curves
        restore(model, run_dir)
        return run_logs.recorded_history(model, run_dir)
    all_callbacks = _fit_callbacks(model, run_dir, train_ds, validation_data, callbacks,
                                   example, label_names, log_examples)
    if isinstance(validation_data, (tuple, list)):
        validation_batch_size = validation_batch_size or _batch_size(train_ds)
    history = _keras_fit(model, train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                         validation_data=validation_data, validation_steps=validation_steps,
                         validation_batch_size=validation_batch_size or None,
                         callbacks=all_callbacks, verbose=verbose)
    if history.epoch and not history.history:
        raise DataError("the training dataset yielded no batch: check that it is not empty "
                        "(a repeating stream, e.g. balanced_patch_dataset, never runs out)")
    return run_logs.with_earlier_epochs(history, run_dir)  # a resumed run: its whole history


def _keras_fit(model, train_ds, **options):
    """``model.fit(train_ds, **options)``, leaving no start epoch behind on ``model``."""
    try:
        return model.fit(train_ds, shuffle=not isinstance(
            train_ds, config.require_tensorflow().data.Dataset), **options)
    finally:
        # BackupAndRestore sets the model's start epoch and Keras never resets it: a later
        # fit of this model into another run folder would skip that many epochs
        if getattr(model, "_initial_epoch", None) is not None:
            model._initial_epoch = None


def _finished(run_dir: Path, epochs: int) -> bool:
    """Whether ``run_dir`` already holds ``epochs`` epochs; say so, or that it resumes part-way.

    A pretrained run (shipped finished, without optimizer state) is never trained further.
    """
    state = read_state(run_dir) or {}
    done = state.get("epoch", 0)
    if state.get("pretrained"):
        if done < epochs:
            raise ModelError(
                f"{run_dir} holds the pretrained model, trained for {done} epochs; it is not "
                f"trained further (asked for {epochs}): set pretrained=False to train your own",
                path=run_dir)
        print(f"pretrained model loaded ({done} epochs, trained by `make pretrained`); no "
              "training. Set pretrained=False to train it yourself.")
        return True
    if done >= epochs:
        print(f"{run_dir.name}: already trained for {done} epochs "
              f"(asked for {epochs}); nothing to do. A notebook names its run folder after "
              "its knobs, `epochs` included: another `epochs` trains a new run in its own "
              "folder, and `restart = True` retrains this one.")
    elif done:
        print(f"{run_dir.name}: resuming after epoch {done} of {epochs}")
    return done >= epochs


def _fit_callbacks(model, run_dir: Path, train_ds, validation_data, callbacks: Iterable,
                   example, label_names, log_examples: bool) -> list:
    """Backup, TensorBoard, the example logger (if ``log_examples``), then ``callbacks``."""
    import keras

    log_dir = run_dir / "logs"
    all_callbacks = [_backup_callback(model, run_dir),
                     keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0),
                     *callbacks]
    if log_examples:
        if example is None:
            example = _first_batch(validation_data if validation_data is not None else train_ds)
        all_callbacks.insert(2, example_callback(log_dir, example, label_names))
    return all_callbacks


def _batch_size(dataset) -> int | None:
    """The static batch size of a ``tf.data`` dataset batched with ``drop_remainder=True``, else None."""
    spec = getattr(dataset, "element_spec", None)
    first = spec[0] if isinstance(spec, tuple) else spec
    shape = getattr(first, "shape", None)
    if shape is None or shape.rank is None or shape.rank == 0:
        return None
    return shape[0]


# =============================================================================
# Does the input pipeline keep up?
# =============================================================================


def measure_input_wait(model, dataset, steps: int = 20, warmup: int = 3) -> dict[str, float]:
    """Time spent waiting for the next batch vs. computing a training step, per step.

    Trains ``model`` for ``warmup + steps`` more steps (run it after evaluation,
    or on a copy) on ``dataset``. ``wait_fraction`` = wait / (wait + step): under 0.1 means the
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
