"""Pretrained models: pack a real finished run, load it with pretrained=True, refuse what differs.

A tiny model is trained once by ``training.fit`` into the run folder of 10's knobs (ci,
two epochs), its metrics recorded by ``results.record_metrics``, and packed by
``tools/pretrained.py`` as ``make pretrained`` does; each test then loads or breaks a copy.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import warnings
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from course_utils import config, networks, results, training
from course_utils.data import synthetic
from course_utils.errors import ConfigError, CorruptFileError, CourseError, DataError, ModelError

pytestmark = pytest.mark.slow  # trains a Keras model and writes TensorBoard logs

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pretrained_tool", ROOT / "tools" / "pretrained.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)

NOTEBOOK = "10_super_resolution"
KNOBS = {"preset": "ci", "epochs": 2, "steps_per_epoch": 2}
METRICS = {"psnr": 21.25, "per_subject": [1.5, 2.5], "baseline": {"psnr": 19.0}}


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 8, 2)).astype("float32")
    return x, (x[..., 0] > 0).astype("int32") + (x[..., 1] > 1).astype("int32")


def _dataset() -> tf.data.Dataset:
    return tf.data.Dataset.from_tensor_slices(_data()).batch(2).repeat()


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = networks.residual_unet_3d(n_classes=3, n_channels=2, filters=(4,))
    model.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def _fit(model, run_dir, **options):
    return training.fit(model, _dataset(), epochs=KNOBS["epochs"], steps_per_epoch=2,
                        run_dir=run_dir, validation_data=_data(), **options)


class CountBatches(keras.callbacks.Callback):
    """Count the training batches a fit runs."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished run of 10's knobs, its metrics, and its pack: what `make pretrained` leaves."""
    reports = tmp_path_factory.mktemp("train") / "ci"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_REPORTS_DIR", str(reports))
        params = config.resolve(NOTEBOOK, **KNOBS)
        run_dir = training.run_folder(NOTEBOOK, params)
        model = _model(seed=1)
        history = _fit(model, run_dir)
        results.record_metrics(NOTEBOOK, params, METRICS)
    shipped = tmp_path_factory.mktemp("pretrained")
    tool.pack(NOTEBOOK, reports, shipped)
    return {"model": model, "history": history.history, "run_dir": run_dir, "shipped": shipped,
            "prediction": model.predict_on_batch(_data()[0])}


def _ship(packed: Path, notebook: str, tmp_path: Path, monkeypatch) -> Path:
    """A copy of ``packed`` as COURSE_PRETRAINED_DIR, and fresh, empty reports; ``notebook``'s folder."""
    folder = tmp_path / "pretrained"
    shutil.copytree(packed, folder)
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(folder))
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path / "reports"))
    return folder / notebook


@pytest.fixture
def shipped(trained, tmp_path, monkeypatch):
    """A copy of the packed model as COURSE_PRETRAINED_DIR, and fresh, empty reports."""
    return _ship(trained["shipped"], NOTEBOOK, tmp_path, monkeypatch)


def _runs(tmp_path: Path) -> list[str]:
    runs = tmp_path / "reports" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def test_pretrained_run_loads_without_training_with_the_same_predictions_and_history(
        trained, shipped, tmp_path):
    params = config.resolve(NOTEBOOK, pretrained=True, **KNOBS)
    run_dir = training.run_folder(NOTEBOOK, params)
    assert run_dir.name.endswith("_pretrained") and run_dir.is_dir()
    model, counter = _model(seed=7), CountBatches()  # other initial weights
    assert not np.allclose(model.predict_on_batch(_data()[0]), trained["prediction"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _fit(model, run_dir, callbacks=[counter])
    assert counter.batches == 0 and int(model.optimizer.iterations) == 0  # nothing trained
    assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    np.testing.assert_array_equal(model.predict_on_batch(_data()[0]), trained["prediction"])
    assert history.epoch == [0, 1]
    assert sorted(history.history) == sorted(trained["history"])
    for key, values in trained["history"].items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-6)


def test_the_manifest_records_knobs_data_version_metrics_and_hashes(trained, shipped):
    manifest = json.loads((shipped / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["preset"] == "ci" and manifest["epochs"] == 2
    assert manifest["knobs"]["learning_rate"] == config.resolve(NOTEBOOK, preset="ci").learning_rate
    assert "pretrained" not in manifest["knobs"] and "restart" not in manifest["knobs"]
    assert manifest["data"]["version"] == f"synthetic generator {synthetic.GENERATOR_VERSION}"
    assert manifest["metrics"] == METRICS
    assert {"keras", "tensorflow"} <= set(manifest["versions"])
    names = set(manifest["files"])
    assert {"run.json", "checkpoints/latest.weights.h5"} <= names
    assert any(n.startswith("logs/validation/events.out.tfevents.") for n in names)
    assert not any(n.endswith(".bkp") for n in names)  # no backups of the last checkpoint
    with h5py.File(shipped / "checkpoints" / "latest.weights.h5", "r") as weights:
        assert "layers" in weights and "optimizer" not in weights  # Adam's moments: 2/3 of it
    assert tool.check(shipped.parent, [NOTEBOOK]) == 0


def test_a_changed_knob_is_refused_naming_it_and_nothing_is_copied(shipped, tmp_path):
    params = config.resolve(NOTEBOOK, pretrained=True, **{**KNOBS, "learning_rate": 0.01})
    with pytest.raises(ConfigError) as caught:
        training.run_folder(NOTEBOOK, params)
    assert caught.value.name == "learning_rate" and "pretrained=False" in str(caught.value)
    assert _runs(tmp_path) == []


def test_another_preset_is_refused_with_the_preset_that_has_models(shipped, tmp_path):
    params = config.resolve(NOTEBOOK, preset="binder", pretrained=True)
    with pytest.raises(ConfigError) as caught:
        training.run_folder(NOTEBOOK, params)
    assert caught.value.name == "preset" and "'ci'" in str(caught.value)
    assert _runs(tmp_path) == []


def test_a_model_trained_on_another_cohort_version_is_refused(shipped, tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
    with pytest.raises(DataError) as caught:
        training.run_folder(NOTEBOOK, config.resolve(NOTEBOOK, pretrained=True, **KNOBS))
    assert caught.value.path == str(shipped / "manifest.json")
    assert _runs(tmp_path) == []


def test_a_flipped_byte_in_the_weights_is_a_corrupt_file_and_nothing_is_copied(shipped, tmp_path):
    weights = shipped / "checkpoints" / "latest.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError) as caught:
        training.run_folder(NOTEBOOK, config.resolve(NOTEBOOK, pretrained=True, **KNOBS))
    assert caught.value.path == str(weights)
    assert _runs(tmp_path) == []
    assert tool.check(shipped.parent, [NOTEBOOK]) == 1


@pytest.mark.parametrize("remove, error", [("manifest.json", CorruptFileError),
                                           ("run.json", CorruptFileError),
                                           ("", CourseError)])
def test_a_missing_manifest_file_or_model_is_a_clear_error(shipped, tmp_path, remove, error):
    target = shipped / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(error) as caught:
        training.run_folder(NOTEBOOK, config.resolve(NOTEBOOK, pretrained=True, **KNOBS))
    assert caught.value.path == str(target)
    assert _runs(tmp_path) == []


def test_restart_and_pretrained_together_are_refused(shipped, tmp_path):
    with pytest.raises(ConfigError) as caught:
        training.run_folder(NOTEBOOK, config.resolve(NOTEBOOK, pretrained=True, restart=True,
                                                     **KNOBS))
    assert caught.value.name == "restart"


def test_a_pretrained_run_is_not_trained_further_and_a_second_use_replaces_the_copy(shipped):
    params = config.resolve(NOTEBOOK, pretrained=True, **KNOBS)
    run_dir = training.run_folder(NOTEBOOK, params)
    with pytest.raises(ModelError):
        training.fit(_model(seed=3), _dataset(), epochs=3, steps_per_epoch=2, run_dir=run_dir)
    (run_dir / "checkpoints" / "latest.weights.h5").write_bytes(b"broken copy")
    again = training.run_folder(NOTEBOOK, params)  # a fresh copy of the checked files
    manifest = json.loads((shipped / "manifest.json").read_text(encoding="utf-8"))
    from course_utils import pretrained

    assert pretrained.sha256(again / "checkpoints" / "latest.weights.h5") == \
        manifest["files"]["checkpoints/latest.weights.h5"]["sha256"]


def test_a_trained_folder_under_the_pretrained_name_is_never_replaced(shipped, tmp_path):
    params = config.resolve(NOTEBOOK, pretrained=True, **KNOBS)
    run_dir = training.run_folder(NOTEBOOK, params)
    shutil.rmtree(run_dir)
    _fit(_model(seed=2), run_dir)  # someone trained into that folder
    with pytest.raises(CourseError) as caught:
        training.run_folder(NOTEBOOK, params)
    assert caught.value.path == str(run_dir)
    assert training.read_state(run_dir)["epoch"] == 2 and not training.read_state(run_dir)[
        "pretrained"]


class Interrupt(keras.callbacks.Callback):
    """Stop training at the start of epoch 1, as a killed run would."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_pack_refuses_an_unfinished_run_and_leaves_nothing_behind(tmp_path, monkeypatch):
    reports = tmp_path / "ci"
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(reports))
    params = config.resolve(NOTEBOOK, **KNOBS)
    with pytest.raises(KeyboardInterrupt):
        _fit(_model(seed=1), training.run_folder(NOTEBOOK, params), callbacks=[Interrupt()])
    results.record_metrics(NOTEBOOK, params, METRICS)
    out = tmp_path / "pretrained"
    out.mkdir()
    with pytest.raises(DataError):
        tool.pack(NOTEBOOK, reports, out)
    assert list(out.iterdir()) == []


def test_compare_finds_a_metric_that_differs_from_the_training_run():
    assert tool.differences(METRICS, json.loads(json.dumps(METRICS))) == []
    assert tool.differences({**METRICS, "train_seconds": 300.0}, {**METRICS, "train_seconds": 0.2}) == []
    changed = {**METRICS, "per_subject": [1.5, 2.6]}
    assert tool.differences(METRICS, changed) == [
        "metrics.per_subject[1]: trained 2.5, pretrained 2.6"]


# --- 05: several small models in one run folder (runs.save_weights), packed and loaded ---

LESSON = "05_class_balancing"
LESSON_KNOBS = {"preset": "ci", "steps": 3}
#: 05's models: one per seed, sampler and loss (names as the notebook writes them).
COMBOS = [f"seed {seed}, {sampler}, {loss}" for seed in (42, 43)
          for sampler in ("uniform", "balanced") for loss in ("CE", "weighted Dice+CE")]


def _small_fcn(seed: int) -> keras.Model:
    """05's small fully convolutional network, smaller: a dilated convolution, then softmax."""
    keras.utils.set_random_seed(seed)
    x = inputs = keras.Input((None, None, None, 2))
    x = keras.layers.Conv3D(4, 3, padding="same", dilation_rate=2, activation="relu")(x)
    outputs = keras.layers.Conv3D(3, 1, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def _train_lesson(reports: Path, steps: dict[str, int] | None = None) -> dict:
    """Train COMBOS as 05's loop does into 05's run folder under ``reports``; record metrics."""
    from course_utils import runs

    x, y = _data()
    out = {"predictions": {}, "losses": {}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_REPORTS_DIR", str(reports))
        params = config.resolve(LESSON, **LESSON_KNOBS)
        out["run_dir"] = runs.run_folder(LESSON, params)
        for i, name in enumerate(COMBOS):
            model = _small_fcn(seed=i)
            for _ in range((steps or {}).get(name, params.steps)):
                loss = model.train_on_batch(x, y)
            runs.save_weights(model, out["run_dir"], name, loss)
            out["predictions"][name] = model.predict_on_batch(x)
            out["losses"][name] = float(loss)
        results.record_metrics(LESSON, params, METRICS)
    return out


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """05's finished run (four models of three steps) and its pack: what `make pretrained` leaves."""
    reports = tmp_path_factory.mktemp("lesson") / "ci"
    trained = _train_lesson(reports)
    trained["shipped"] = tmp_path_factory.mktemp("pretrained05")
    tool.pack(LESSON, reports, trained["shipped"])
    return trained


@pytest.fixture
def lesson_shipped(lesson, tmp_path, monkeypatch):
    """A copy of 05's pack as COURSE_PRETRAINED_DIR, and fresh, empty reports."""
    return _ship(lesson["shipped"], LESSON, tmp_path, monkeypatch)


def _dtypes(group: h5py.Group) -> set[np.dtype]:
    """The dtypes of every array in an HDF5 file or group."""
    found = set()
    group.visititems(lambda _, item: found.add(item.dtype) if isinstance(item, h5py.Dataset)
                     else None)
    return found


def test_05_pack_ships_every_model_without_optimizer_state_with_its_loss(lesson, lesson_shipped):
    manifest = json.loads((lesson_shipped / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["models"] == len(COMBOS) and manifest["steps"] == LESSON_KNOBS["steps"]
    assert manifest["knobs"]["steps"] == 3 and "pretrained" not in manifest["knobs"]
    weights = sorted(n for n in manifest["files"] if n.endswith(".weights.h5"))
    assert len(weights) == len(COMBOS) and "run.json" in manifest["files"]
    assert "seed_43_balanced_weighted_Dice+CE.weights.h5" in weights
    for name in weights:
        with h5py.File(lesson_shipped / name, "r") as shipped_file, \
                h5py.File(lesson["run_dir"] / name, "r") as trained_file:
            assert "optimizer" in trained_file and "optimizer" not in shipped_file
            assert _dtypes(shipped_file) == {np.dtype("float32")}
        record = json.loads((lesson_shipped / name.replace(".weights.h5", ".json")).read_text())
        assert record["final_loss"] == lesson["losses"][record["name"]]
    assert tool.check(lesson_shipped.parent, [LESSON]) == 0


def test_05_pretrained_loads_each_model_with_its_predictions_and_last_loss(lesson, lesson_shipped):
    from course_utils import runs

    params = config.resolve(LESSON, pretrained=True, **LESSON_KNOBS)
    run_dir = runs.run_folder(LESSON, params)
    assert run_dir.name.endswith("_pretrained") and run_dir.is_dir()
    x, _ = _data()
    for name in COMBOS:
        model = _small_fcn(seed=99)  # other initial weights
        assert not np.allclose(model.predict_on_batch(x), lesson["predictions"][name])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            final_loss = runs.load_weights(model, run_dir, name)
        assert not [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
        assert final_loss == lesson["losses"][name]
        np.testing.assert_array_equal(model.predict_on_batch(x), lesson["predictions"][name])


def test_05_a_flipped_byte_in_one_model_is_refused_naming_it(lesson_shipped, tmp_path, capsys):
    weights = lesson_shipped / "seed_42_balanced_CE.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError) as caught:
        training.run_folder(LESSON, config.resolve(LESSON, pretrained=True, **LESSON_KNOBS))
    assert caught.value.path == str(weights) and "git checkout pretrained/" in str(caught.value)
    assert _runs(tmp_path) == []
    capsys.readouterr()
    assert tool.check(lesson_shipped.parent, [LESSON]) == 1
    assert str(weights) in capsys.readouterr().err


def test_05_a_model_that_is_not_there_is_a_model_error_naming_its_file(lesson_shipped):
    from course_utils import runs

    run_dir = runs.run_folder(LESSON, config.resolve(LESSON, pretrained=True, **LESSON_KNOBS))
    with pytest.raises(ModelError) as caught:
        runs.load_weights(_small_fcn(seed=0), run_dir, "seed 44, uniform, CE")
    assert caught.value.path == str(run_dir / "seed_44_uniform_CE.weights.h5")
    with pytest.raises(ModelError):  # a name whose file stem is another model's
        runs.load_weights(_small_fcn(seed=0), run_dir, "seed 42 uniform CE")


def test_05_pack_refuses_a_model_trained_for_fewer_steps(tmp_path):
    reports = tmp_path / "ci"
    _train_lesson(reports, steps={COMBOS[2]: 2})  # one model cut short
    out = tmp_path / "pretrained"
    out.mkdir()
    with pytest.raises(DataError) as caught:
        tool.pack(LESSON, reports, out)
    assert "seed_42_balanced_CE" in str(caught.value)
    assert list(out.iterdir()) == []


def test_save_weights_never_writes_into_a_run_of_fit_or_a_pretrained_copy(trained, lesson_shipped):
    from course_utils import runs

    copy = runs.run_folder(LESSON, config.resolve(LESSON, pretrained=True, **LESSON_KNOBS))
    for run_dir in (trained["run_dir"], copy):
        before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
        with pytest.raises(CourseError) as caught:
            runs.save_weights(_small_fcn(seed=0), run_dir, "seed 42, uniform, CE", 0.5)
        assert caught.value.path == str(run_dir)
        assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("notebook", tool.NOTEBOOKS)
def test_pretrained_at_ci_is_refused_the_same_way_for_05_to_10(notebook, tmp_path, monkeypatch):
    """The repository ships binder models only: at ci each notebook gets the same clear error."""
    from course_utils import pretrained

    monkeypatch.delenv("COURSE_PRETRAINED_DIR", raising=False)
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path / "reports"))
    shipped = pretrained.pretrained_dir() / notebook
    with pytest.raises(CourseError) as caught:
        training.run_folder(notebook, config.resolve(notebook, preset="ci", pretrained=True))
    error = caught.value
    assert "pretrained=False" in str(error)
    if (shipped / "manifest.json").is_file():  # shipped at binder: the preset is named
        assert isinstance(error, ConfigError) and error.name == "preset"
        assert "'binder'" in str(error)
    else:  # not packed yet: says how to build it
        assert error.path == str(shipped) and "make pretrained" in str(error)
    assert _runs(tmp_path) == []
