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


@pytest.fixture
def shipped(trained, tmp_path, monkeypatch):
    """A copy of the packed model as COURSE_PRETRAINED_DIR, and fresh, empty reports."""
    folder = tmp_path / "pretrained"
    shutil.copytree(trained["shipped"], folder)
    monkeypatch.setenv("COURSE_PRETRAINED_DIR", str(folder))
    monkeypatch.setenv("COURSE_REPORTS_DIR", str(tmp_path / "reports"))
    return folder / NOTEBOOK


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
