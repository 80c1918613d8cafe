"""Tests of course_utils.training: checkpoints, resume, TensorBoard logs, strategy."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import networks, training
from course_utils.errors import ConfigError, CourseError, DataError, ModelError, ShapeError

pytestmark = pytest.mark.slow  # trains Keras models and writes TensorBoard logs

N_CLASSES = 3
STEPS = 2


def _dataset(seed: int = 0) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 8, 8, 8, 2)).astype("float32")
    y = (x[..., 0] > 0).astype("int32") + (x[..., 1] > 1).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(2).repeat()


def _model(filters=(4,), seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = networks.residual_unet_3d(n_classes=N_CLASSES, n_channels=2, filters=filters)
    model.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


class Snapshot(keras.callbacks.Callback):
    """Record the weights and optimizer step at the start of training."""

    def on_train_begin(self, logs=None):
        self.weights = [np.array(w) for w in self.model.get_weights()]
        self.iterations = int(self.model.optimizer.iterations)


class Interrupt(keras.callbacks.Callback):
    """Simulate a crash at the start of epoch ``at``."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt


def test_resume_continues_at_the_next_epoch_with_the_saved_weights(tmp_path):
    run = tmp_path / "run"
    first = _model(seed=1)
    training.fit(first, _dataset(), epochs=2, steps_per_epoch=STEPS, run_dir=run)
    saved = [np.array(w) for w in first.get_weights()]
    assert training.read_state(run)["epoch"] == 2
    assert (run / "checkpoints" / "latest.weights.h5").exists()  # Keras' BackupAndRestore

    second = _model(seed=2)  # same architecture, other initial weights
    assert not np.allclose(second.get_weights()[0], saved[0])
    snapshot = Snapshot()
    history = training.fit(second, _dataset(), epochs=3, steps_per_epoch=STEPS, run_dir=run,
                           callbacks=[snapshot])
    assert history.epoch == [0, 1, 2]  # this call trained epoch 2; the logs give 0 and 1
    assert len(history.history["loss"]) == 3
    for got, want in zip(snapshot.weights, saved, strict=True):
        np.testing.assert_array_equal(got, want)
    assert snapshot.iterations == 2 * STEPS  # optimizer state came back too
    assert training.read_state(run)["epoch"] == 3


def test_rerunning_a_finished_run_trains_nothing_and_returns_its_whole_history(tmp_path):
    # A learner reruns a finished notebook: fit trains no epoch, and the history used to be
    # empty, so the next cell's plot_history raised "nothing to plot".
    from course_utils import viz

    run = tmp_path / "run"
    first = training.fit(_model(seed=1), _dataset(), epochs=2, steps_per_epoch=STEPS, run_dir=run)
    again = training.fit(_model(seed=2), _dataset(), epochs=2, steps_per_epoch=STEPS, run_dir=run)
    assert again.epoch == [0, 1]
    np.testing.assert_allclose(again.history["loss"], first.history["loss"], rtol=1e-5)
    viz.plot_history(again)


def test_interrupted_run_resumes_where_it_stopped(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.fit(_model(), _dataset(), epochs=3, steps_per_epoch=STEPS, run_dir=run,
                     callbacks=[Interrupt(at=1)])
    assert training.read_state(run)["epoch"] == 1
    trained = []
    begun = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: trained.append(epoch))
    history = training.fit(_model(), _dataset(), epochs=3, steps_per_epoch=STEPS, run_dir=run,
                           callbacks=[begun])
    assert trained == [1, 2] and history.epoch == [0, 1, 2]  # the history: the whole run


def test_checkpoint_of_another_architecture_is_a_model_error(tmp_path):
    run = tmp_path / "run"
    training.fit(_model(filters=(4,)), _dataset(), epochs=1, steps_per_epoch=STEPS, run_dir=run)
    with pytest.raises(ModelError, match="delete the folder"):
        training.fit(_model(filters=(6,)), _dataset(), epochs=2, steps_per_epoch=STEPS,
                     run_dir=run)


def test_uncompiled_model_is_a_model_error(tmp_path):
    model = networks.residual_unet_3d(n_classes=N_CLASSES, n_channels=2, filters=(4,))
    with pytest.raises(ModelError, match="compile"):
        training.fit(model, _dataset(), epochs=1, steps_per_epoch=1, run_dir=tmp_path)


class CountValidationBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_test_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.parametrize("given, expected_batches", [(None, 5), (5, 2)])
def test_validation_arrays_are_evaluated_in_training_sized_batches(tmp_path, given,
                                                                   expected_batches):
    # Keras' default would evaluate all 10 patches in one batch of up to 32,
    # several times the memory of a training step of 2.
    rng = np.random.default_rng(3)
    val_x = rng.normal(size=(10, 8, 8, 8, 2)).astype("float32")
    val_y = (val_x[..., 0] > 0).astype("int32")
    train = _dataset().unbatch().batch(2, drop_remainder=True)  # a known batch size, 2
    counter = CountValidationBatches()
    training.fit(_model(), train, epochs=1, steps_per_epoch=1, run_dir=tmp_path / "run",
                 validation_data=(val_x, val_y), validation_batch_size=given,
                 log_examples=False, callbacks=[counter])
    assert counter.batches == expected_batches


def test_read_scalars_matches_keras_history_and_has_dice(tmp_path):
    run = tmp_path / "run"
    history = training.fit(_model(), _dataset(), epochs=2, steps_per_epoch=STEPS, run_dir=run,
                           validation_data=_dataset(1), validation_steps=1,
                           label_names={0: "background", 1: "a", 2: "b"})
    scalars = training.read_scalars(run)
    loss = scalars[(scalars.run == "train") & (scalars.tag == "epoch_loss")]
    assert list(loss.step) == [0, 1]
    np.testing.assert_allclose(loss.value, history.history["loss"], rtol=1e-5)
    val = scalars[(scalars.run == "validation") & (scalars.tag == "epoch_loss")]
    np.testing.assert_allclose(val.value, history.history["val_loss"], rtol=1e-5)
    dice = scalars[scalars.run == "examples"]
    assert "dice/0_background" in set(dice.tag)
    assert dice.value.between(0, 1).all()
    table = training.scalar_table(scalars, ["epoch_loss"])
    assert list(table.columns) == ["train/epoch_loss", "validation/epoch_loss"]
    logged = training.logged_history(run)
    np.testing.assert_allclose(logged["val_loss"], history.history["val_loss"], rtol=1e-5)
    assert logged["epoch"] == [1, 2] and "example dice background" in logged


def test_balanced_patch_dataset_is_reproducible_balanced_and_paired():
    from course_utils import augmentation

    volumes = []
    for k in range(2):
        label = np.zeros((20, 20, 20), dtype=np.uint8)
        label[:, :10] = 1
        label[5 + k:8 + k, 5:8, 12:15] = 2  # a rare class: 27 of 8000 voxels
        image = np.stack([label.astype("float32"), np.full(label.shape, k, "float32")], -1)
        volumes.append((image, label))
    flip = augmentation.compose(augmentation.random_flip)

    def batches(seed):
        ds = training.balanced_patch_dataset(volumes, 8, 4, n_classes=3, seed=seed,
                                             patches_per_volume=4, augment=flip)
        return [(np.asarray(x), np.asarray(y)) for x, y in ds.take(6)]

    first, again, other = batches(1), batches(1), batches(2)
    assert first[0][0].shape == (4, 8, 8, 8, 2) and first[0][1].shape == (4, 8, 8, 8)
    for (x1, y1), (x2, y2) in zip(first, again, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))
    labels = np.concatenate([y for _, y in first])
    patches = np.concatenate([x for x, _ in first])
    np.testing.assert_array_equal(patches[..., 0], labels)  # flips moved image and label together
    share_in_patches = (labels == 2).mean()
    assert share_in_patches > 5 * 27 / 8000  # class-balanced: the rare class is over-sampled
    assert (labels == 2).reshape(len(labels), -1).any(1).mean() > 0.2


def test_example_panel_and_dice():
    truth = np.zeros((4, 5, 6), dtype=int)
    truth[:, :2] = 1
    pred = truth.copy()
    pred[:, 2] = 1  # 2 true rows, 3 predicted -> dice = 2*2/(2+3)
    dice = training._dice_per_label(pred, truth, 3)
    np.testing.assert_allclose(dice[1], 0.8)
    assert np.isnan(dice[2])
    panel = training.example_panel(np.random.rand(4, 5, 6, 1), truth, pred)
    assert panel.shape == (5, 18, 3) and panel.min() >= 0 and panel.max() <= 1


def test_cpu_gets_default_strategy_and_float32():
    strategy = training.get_strategy(verbose=False)
    if not tf.config.list_physical_devices("GPU"):
        assert strategy.num_replicas_in_sync == 1
        assert keras.mixed_precision.global_policy().name == "float32"
        training.get_strategy(mixed_precision=True, verbose=False)  # still never on a CPU
        assert keras.mixed_precision.global_policy().name == "float32"


def test_measure_input_wait_fractions():
    result = training.measure_input_wait(_model(), _dataset(), steps=2, warmup=1)
    assert 0 <= result["wait_fraction"] <= 1 and result["step_s"] > 0


class InterruptAtBatch(keras.callbacks.Callback):
    """Simulate Ctrl-C in the middle of epoch ``epoch`` (after its first batch)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch, self.current = epoch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch:
            raise KeyboardInterrupt


def test_interrupt_mid_epoch_resumes_at_that_epoch_with_its_weights(tmp_path):
    run = tmp_path / "run"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        training.fit(model, _dataset(), epochs=3, steps_per_epoch=STEPS, run_dir=run,
                     callbacks=[InterruptAtBatch(1)])
    assert training.read_state(run)["epoch"] == 1
    fresh = _model(seed=5)
    assert training.restore(fresh, run) == 1
    trained = []
    begun = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: trained.append(epoch))
    history = training.fit(fresh, _dataset(), epochs=3, steps_per_epoch=STEPS, run_dir=run,
                           callbacks=[begun])
    assert trained == [1, 2] and history.epoch == [0, 1, 2]


@pytest.mark.parametrize("name, value", [
    ("epochs", 0), ("epochs", 2.5), ("epochs", -1), ("steps_per_epoch", 0),
    ("steps_per_epoch", 1.5), ("validation_steps", 0), ("validation_batch_size", 0),
    ("log_examples", "yes"),
])
def test_invalid_fit_arguments_are_config_errors_before_anything_is_written(tmp_path, name,
                                                                            value):
    # steps_per_epoch=0 used to spin at 100 % CPU forever inside Keras
    arguments = {"epochs": 1, "steps_per_epoch": 1, name: value}
    with pytest.raises(ConfigError) as caught:
        training.fit(_model(), _dataset(), run_dir=tmp_path / "run", **arguments)
    assert caught.value.name == name
    assert not (tmp_path / "run").exists()


def test_run_dir_that_is_a_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine", encoding="utf-8")
    with pytest.raises(CourseError) as caught:
        training.fit(_model(), _dataset(), epochs=1, steps_per_epoch=1, run_dir=path)
    assert caught.value.path == str(path)
    assert path.read_text(encoding="utf-8") == "mine"


def test_foreign_folders_are_never_written_into_nor_deleted(tmp_path):
    folder = tmp_path / "my_project"
    (folder / "checkpoints").mkdir(parents=True)
    mine = folder / "checkpoints" / "epoch_001.weights.h5"
    mine.write_bytes(b"my own weights")
    with pytest.raises(CourseError) as caught:
        training.fit(_model(), _dataset(), epochs=1, steps_per_epoch=1, run_dir=folder)
    assert caught.value.path == str(folder)
    with pytest.raises(CourseError):
        training.clear_run(folder)
    assert mine.read_bytes() == b"my own weights"
    assert sorted(p.name for p in folder.rglob("*")) == ["checkpoints", "epoch_001.weights.h5"]


def test_clear_run_deletes_a_run_of_fit_so_that_training_starts_afresh(tmp_path):
    run = tmp_path / "run"
    training.fit(_model(), _dataset(), epochs=1, steps_per_epoch=1, run_dir=run,
                 log_examples=False)
    assert training.clear_run(run) and not run.exists()
    assert not training.clear_run(run)  # nothing left to delete
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not training.clear_run(empty) and empty.exists()  # not the course's: kept
    history = training.fit(_model(), _dataset(), epochs=1, steps_per_epoch=1, run_dir=run,
                           log_examples=False)
    assert history.epoch == [0]


def test_model_that_does_not_fit_the_data_is_a_shape_error(tmp_path):
    model = networks.residual_unet_3d(n_classes=N_CLASSES, n_channels=3, filters=(4,))
    model.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    with pytest.raises(ShapeError, match="channels"):
        training.fit(model, _dataset(), epochs=1, steps_per_epoch=1, run_dir=tmp_path / "run")


def test_dataset_that_yields_nothing_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no batch"):
        training.fit(_model(), _dataset().take(0), epochs=1, steps_per_epoch=1,
                     run_dir=tmp_path / "run", log_examples=False)


def test_truncated_event_file_warns_and_keeps_what_it_holds(tmp_path):
    run = tmp_path / "run"
    training.fit(_model(), _dataset(), epochs=2, steps_per_epoch=1, run_dir=run,
                 log_examples=False)
    whole = training.read_scalars(run)
    (events,) = (run / "logs" / "train").glob("events.out.tfevents.*")
    data = events.read_bytes()
    events.write_bytes(data[: len(data) - 7])  # cut inside the last record
    with pytest.warns(RuntimeWarning, match="cut short") as caught:
        cut = training.read_scalars(run)
    assert str(events) in str(caught[0].message)
    train = cut[cut.run == "train"]
    assert 0 < len(train) < len(whole[whole.run == "train"])
    assert "loss" in training.logged_history(run)


def test_a_resumed_model_trains_from_epoch_0_in_a_new_run_folder(tmp_path):
    model = _model()
    training.fit(model, _dataset(), epochs=1, steps_per_epoch=1, run_dir=tmp_path / "a",
                 log_examples=False)
    training.fit(model, _dataset(), epochs=1, steps_per_epoch=1, run_dir=tmp_path / "a",
                 log_examples=False)  # resumed: nothing left to train
    history = training.fit(model, _dataset(), epochs=1, steps_per_epoch=1,
                           run_dir=tmp_path / "b", log_examples=False)
    assert history.epoch == [0]


def test_run_folder_changes_with_the_cohort_version_not_with_restart_or_pretrained(
        tmp_path, monkeypatch):
    # A checkpoint trained on an older cohort (generator version) used to be resumed silently.
    from course_utils import config
    from course_utils.data import synthetic

    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path))
    params = config.resolve("06_segmentation", preset="ci")
    folder = training.run_folder("06_segmentation", params)
    assert folder.parent == tmp_path / "runs"
    assert training.run_folder("06_segmentation", {**params, "restart": True}) == folder
    assert training.run_folder("06_segmentation", {**params, "epochs": 5}) != folder
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    assert training.run_folder("06_segmentation", params) != folder


def test_a_finished_run_says_truthfully_how_to_train_more(tmp_path, monkeypatch, capsys):
    # It said "Raise `epochs` to train more", but a notebook's run folder is named after its
    # knobs, epochs included: a learner who raised epochs waited for a whole new run.
    from course_utils import config

    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path))
    params = config.resolve("06_segmentation", preset="ci", epochs=1)
    run = training.run_folder("06_segmentation", params)
    for _ in range(2):  # the second call finds the run finished
        training.fit(_model(), _dataset(), epochs=1, steps_per_epoch=1, run_dir=run,
                     log_examples=False)
    printed = capsys.readouterr().out
    assert "nothing to do" in printed and "Raise `epochs`" not in printed
    assert "another `epochs` trains a new run in its own folder" in printed
    assert "`restart = True` retrains this one" in printed
    more = training.run_folder("06_segmentation", {**params, "epochs": 2})
    assert more != run  # what the message promises: a new folder...
    history = training.fit(_model(), _dataset(), epochs=2, steps_per_epoch=1, run_dir=more,
                           log_examples=False)
    assert history.epoch == [0, 1]  # ...and a new run, trained from epoch 0


def test_strategy_is_described_in_words_a_learner_understands(capsys):
    # it printed "_DefaultDistributionStrategy", a TensorFlow internal
    training.get_strategy()
    printed = capsys.readouterr().out
    gpus = len(tf.config.list_physical_devices("GPU"))
    expected = {0: "one device: CPU", 1: "one device: GPU"}.get(
        gpus, f"MirroredStrategy over {gpus} GPUs")
    assert printed.startswith(expected) and "_Default" not in printed
