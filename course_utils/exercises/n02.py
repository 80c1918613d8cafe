"""Exercises of notebook 02 I/O benchmark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from course_utils.exercises._core import change_first, close, exercise, feedback, judge_prediction

START_BUFFER = 16  # the shuffle buffer of the notebook's unchanged experiment (and of its record sets)


@exercise
def check_batch_megabytes(answer: Any, example_shape: Sequence[int], batch_size: int) -> bool:
    """02: mebibytes (MiB, 2**20 bytes) of one float32 batch of ``example_shape`` x 1 channel.

    Parameters: ``answer``: mebibytes; ``example_shape``: (z, y, x) of one example;
    ``batch_size``: examples per batch.
    """
    expected = float(np.prod(example_shape)) * int(batch_size) * 4 / 2**20
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"{expected:.1f} MiB per batch: that is what every pipeline must deliver each step.",
        hint="multiply the voxels of one example by the batch size and by 4 bytes per float32, "
             "then divide by 2**20 (1,048,576) for MiB",
        answer=answer,
    )


@exercise
def check_io_bound(answer: Any, seconds_per_batch: dict, step_seconds: float) -> bool:
    """02: which pipelines keep the model waiting (slower per batch than one training step)?

    Parameters: ``answer``: a list of pipeline names; ``seconds_per_batch``: name ->
    measured seconds per batch; ``step_seconds``: seconds of one training step.
    """
    expected = sorted(k for k, v in seconds_per_batch.items() if v > step_seconds)
    ok = (isinstance(answer, (list, tuple, set, np.ndarray))
          and sorted(str(name) for name in answer) == expected)
    success = (f"{expected}: only these make the training step wait; for the others the step "
               "itself is the bottleneck." if expected else
               "none: every pipeline delivers a batch faster than one training step, so a faster "
               "pipeline would not speed this training up.")
    return feedback(
        ok,
        success,
        hint="compare each pipeline's seconds per batch with the seconds of one training step; "
             "answer a list of names (an empty list if none)",
        answer=answer,
    )


@exercise(kind="predict")
def check_shuffle_order(prediction: Any, order: Sequence[int], buffer_size: int) -> bool:
    """02 (change, predict, verify): the order of subjects out of ``shuffle(buffer_size)``.

    Parameters: ``prediction``: "file order" or "shuffled"; ``order``: the subject indices
    in the order the dataset gave them (they were 0, 1, 2... going in); ``buffer_size``:
    the shuffle buffer used.
    """
    verdict = change_first(prediction, int(buffer_size) == START_BUFFER, "shuffle_buffer = 1")
    if verdict is not None:
        return verdict
    order = [int(i) for i in order]
    truth = "file order" if order == sorted(order) else "shuffled"
    earliest = max(i - k for k, i in enumerate(order))  # how many places one subject moved up
    why = (f"with a buffer of {buffer_size}, the order was {order[:8]}{'...' if len(order) > 8 else ''}"
           f"; no subject came more than {earliest} places early. shuffle() fills a buffer of "
           "that many elements and draws each output at random from it, then refills: a buffer "
           "of 1 leaves nothing to choose from, and any buffer smaller than the data can only "
           "move an element buffer-1 places ahead, so the first batches always come from the "
           "first files. Shuffle the cheap file list fully first, then records with a buffer.")
    return judge_prediction(prediction, truth, ("file order", "shuffled"), why,
                            hint="picture the buffer: it holds `buffer_size` elements and each "
                                 "output is drawn at random among them")


@exercise(kind="predict")
def check_record_size(prediction: Any, bytes_record: int, other_record: int,
                      encoding: Any = None) -> bool:
    """02 (change, predict, verify): the size of a record of one ``encoding`` against raw bytes.

    Parameters: ``prediction``: "smaller", "about the same" or "larger"; ``bytes_record``:
    the length of the record encoded as "bytes"; ``other_record``: the length of the same
    volume's record in the encoding you chose; ``encoding``: that encoding, the marked
    line's value ("bytes": the starting, unchanged line; None: not given).
    """
    verdict = change_first(prediction, encoding == "bytes", 'encoding = "float_list"')
    if verdict is not None:
        return verdict
    ratio = int(other_record) / int(bytes_record)
    truth = "smaller" if ratio < 0.95 else "larger" if ratio > 1.05 else "about the same"
    why = (f"{other_record:,} bytes against {bytes_record:,} ({ratio:.3f}x). A float list is "
           "stored packed: 4 bytes per float32, like the raw bytes, plus a few bytes of "
           "framing. Its cost is not disk space but parsing: every value goes through the "
           "protocol-buffer decoder, while decode_raw reinterprets the bytes in one go "
           "(compare the timings of the two encodings in the lesson).")
    return judge_prediction(prediction, truth, ("smaller", "about the same", "larger"), why,
                            hint="how many bytes does one float32 take in a list, and in raw "
                                 "bytes? Think about what else a record stores.")
