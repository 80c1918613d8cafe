"""Exercises of notebook 02: contracts, and the change-predict-verify checks judged on real
tf.data shuffles and real encoded records."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import assert_exercise_contract, assert_unchanged_not_judged

from course_utils import exercises

INPUTS = {
    "check_batch_megabytes": (((8, 16, 16), 3), 8 * 16 * 16 * 3 * 4 / 2**20),
    "check_io_bound": (({"memory": 0.1, "generator": 0.3}, 0.2), ["generator"]),
    "check_shuffle_order": (([0, 2, 1, 3], 2), "shuffled"),
    "check_record_size": ((1000, 1010, "float_list"), "about the same"),
}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_contract(name, capsys):
    args, right = INPUTS[name]
    assert_exercise_contract(getattr(exercises, name), args, right, capsys)


@pytest.mark.parametrize("buffer, truth", [(1, "file order"), (8, "shuffled")])
def test_shuffle_order_is_judged_on_a_real_tf_data_shuffle(buffer, truth, capsys):
    import tensorflow as tf

    order = [int(i) for i in tf.data.Dataset.range(12).shuffle(buffer, seed=3)]
    assert exercises.check_shuffle_order(truth, order, buffer) is True
    if buffer > 1:  # an element moves at most buffer-1 places ahead, and the check says so
        assert max(i - k for k, i in enumerate(order)) <= buffer - 1
        assert "more than" in capsys.readouterr().out


def test_unchanged_shuffle_buffer_is_not_judged(monkeypatch, capsys):
    import tensorflow as tf

    order = [int(i) for i in tf.data.Dataset.range(12).shuffle(16, seed=3)]  # as shipped
    assert_unchanged_not_judged(exercises.check_shuffle_order, ("shuffled", "file order"),
                                (order, 16), "shuffle_buffer = 1", {"shuffle_buffer": 16},
                                monkeypatch, capsys)


def test_record_size_is_judged_on_real_encoded_records(capsys):
    from course_utils.pipelines.tfrecords import encode_example

    volume = np.random.default_rng(0).normal(size=(6, 7, 8)).astype(np.float32)
    raw = len(encode_example(volume, None, "bytes"))
    lists = len(encode_example(volume, None, "float_list"))
    assert exercises.check_record_size("about the same", raw, lists, "float_list") is True
    assert exercises.check_record_size("larger", raw, lists, "float_list") is False


def test_unchanged_encoding_is_not_judged(monkeypatch, capsys):
    from course_utils.pipelines.tfrecords import encode_example

    raw = len(encode_example(np.zeros((6, 7, 8), np.float32), None, "bytes"))
    assert_unchanged_not_judged(exercises.check_record_size, ("about the same", "larger"),
                                (raw, raw, "bytes"), 'encoding = "float_list"', {},
                                monkeypatch, capsys)
