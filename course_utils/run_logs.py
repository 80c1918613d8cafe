"""TensorBoard logs of a training run: per-label Dice and a predicted slice, and reading them back.

:func:`course_utils.training.fit` writes Keras' scalars under ``run_dir/logs/train``
and ``logs/validation`` and, with the logger of this module, ``logs/examples``;
:func:`read_scalars` and :func:`logged_history` read them back for matplotlib.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb

from course_utils import config
from course_utils.io import LABEL_COLOURS

# Colours of the label classes in TensorBoard images: the course's one definition.
_COLOURS = np.array([to_rgb(LABEL_COLOURS[k]) for k in sorted(LABEL_COLOURS)], dtype=np.float32)


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
    """Integer ``labels`` [..] -> RGB [.., 3] in [0, 1] with the course's label colours."""
    return _COLOURS[np.clip(labels, 0, len(_COLOURS) - 1)]


def example_panel(image: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """One middle axial slice as an RGB strip: ``image`` channel 0 | ``truth`` | ``pred``."""
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


def example_callback(log_dir: Path, example, label_names: Mapping[int, str] | None):
    """A Keras callback logging, each epoch, the Dice of every label on ``example`` and a slice.

    Parameters: ``log_dir`` the run's ``logs`` folder (writes ``log_dir/examples``);
    ``example`` a batch ``(x, y)`` of inputs and integer or one-hot labels;
    ``label_names`` ``{label: name}`` for the scalar tags (default ``label_<k>``).
    """
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


# =============================================================================
# Reading the logs back (matplotlib fallback for TensorBoard)
# =============================================================================


def _events(path: Path):
    """The events of one TensorBoard file; a file cut short warns and yields what it holds."""
    tf = config.require_tensorflow()
    count = 0
    try:
        for record in tf.data.TFRecordDataset(str(path)):  # event files are TFRecord files
            count += 1
            yield tf.compat.v1.Event.FromString(record.numpy())
    except tf.errors.DataLossError:
        warnings.warn(f"{path} is cut short after {count} events (an interrupted write?); "
                      "read what it holds", RuntimeWarning, stacklevel=3)


def read_scalars(run_dir: str | Path):
    """All scalars logged under ``run_dir/logs`` as a DataFrame: run, tag, step, value, wall_time.

    Parameters: ``run_dir`` the run folder of :func:`fit`. ``run`` is the log
    subfolder (``train``, ``validation``, ``examples``). When a step was logged
    twice (a resumed run), the later value is kept. Events are read with
    TensorFlow's TFRecord reader as ``Event`` protos; a truncated file warns and gives what it holds.
    """
    import pandas as pd

    tf = config.require_tensorflow()
    root = Path(run_dir) / "logs"
    rows = []
    for path in sorted(root.rglob("events.out.tfevents.*")):
        run = path.parent.relative_to(root).as_posix()
        for event in _events(path):
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
    """The scalars logged in ``run_dir``, per epoch, as a Keras-History-like dict.

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
    """Wide table of ``scalars`` (:func:`read_scalars` output): one row per epoch, one column
    per run/tag; ``tags`` keeps only those (default: all).
    """
    frame = scalars if tags is None else scalars[scalars.tag.isin(tags)]
    wide = frame.pivot_table(index="step", columns=["run", "tag"], values="value")
    wide.columns = [f"{run}/{tag}" for run, tag in wide.columns]
    return wide


def _curves(run_dir: str | Path) -> tuple[list[int], dict[str, list[float]]]:
    """The 0-based epochs and the Keras-History curves (no example Dice) logged in ``run_dir``."""
    logged = logged_history(run_dir)
    epochs = [e - 1 for e in logged.pop("epoch", [])]
    return epochs, {k: v for k, v in logged.items() if not k.startswith("example ")}


def with_earlier_epochs(history, run_dir: str | Path):
    """``history`` of a fit that resumed a run, completed with the epochs the run logged before.

    A resumed run trains only the missing epochs: Keras' History then holds only what this
    call trained. The epochs before are in the run's TensorBoard logs; this puts them back,
    so the curves show the whole run.

    Parameters: ``history``: what ``model.fit`` returned; ``run_dir``: the run's folder.
    """
    epochs, curves = _curves(run_dir)
    if len(epochs) > len(history.epoch) and all(len(v) == len(epochs) for v in curves.values()):
        history.history, history.epoch = curves, epochs
    return history


def recorded_history(model, run_dir: str | Path):
    """A Keras History of the whole finished run ``run_dir``, read from its logs, for ``model``.

    What :func:`course_utils.training.fit` returns for a run that needs no more epochs (a
    rerun notebook, a pretrained model): the curves recorded when it was trained.
    Parameters: ``model``: the model it is attached to (``history.model``); ``run_dir``:
    the run's folder.
    """
    import keras

    history = keras.callbacks.History()
    history.set_model(model)
    history.epoch, history.history = _curves(run_dir)
    return history
