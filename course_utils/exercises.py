"""Self-check exercises: ``check_*`` functions that answer a learner with a hint, not a traceback.

Each check returns ``True`` when the answer is right and prints one short
message either way: what is right, or what is wrong and a hint toward the fix.
A check never raises on a wrong or missing answer, whatever its type (a string
for a number, a ragged list, a dict), so a notebook run top to bottom
(papermill, nbval) continues; tests/test_exercises.py tries every ``check_*``
with such answers. The hidden solution cell below each exercise shows one
correct answer and checks it too.

The pattern for a new exercise::

    def check_something(answer) -> bool:
        expected = ...  # computed independently, never pasted in
        return feedback(close(answer, expected), "why it is right",
                        hint="what to look at", answer=answer)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NOT_ANSWERED = "Not answered yet: replace the `...` or `None` with your code and run the cell again."


def _missing(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _shape(answer: Any) -> tuple[int, ...] | None:
    """The array shape of ``answer``, or None if it has none (missing, ragged, not numeric)."""
    if _missing(answer):
        return None
    try:
        return tuple(np.shape(answer))
    except (TypeError, ValueError):  # a ragged list: numpy refuses to guess a shape
        return None


def feedback(ok: bool, success: str, hint: str, answer: Any = None) -> bool:
    """Print a one-line verdict for ``answer`` (success message, or the hint) and return ``ok``.

    Parameters: ``ok``: whether the answer is right; ``success``: what to say if so;
    ``hint``: what to look at if not; ``answer``: the learner's answer (None or ``...``
    means not answered yet).
    """
    if _missing(answer):
        print(f"⏳ {NOT_ANSWERED}\n   Hint: {hint}")
        return False
    if ok:
        print(f"✅ Correct. {success}")
    else:
        print(f"❌ Not quite. {hint}")
    return bool(ok)


def close(answer: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True if ``answer`` has ``expected``'s shape and values (within tolerance).

    Parameters: ``answer``: anything the learner gave (text and ragged lists are
    simply not close); ``expected``: the right value; ``rtol``, ``atol``: as in
    ``np.allclose``.
    """
    if _missing(answer) or isinstance(answer, (str, bytes)):
        return False
    try:
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def shape_hint(answer: Any, expected_shape: Sequence[int]) -> str:
    """A hint that compares the shape of ``answer`` with the one expected.

    Parameters: ``answer``: the learner's answer; ``expected_shape``: the shape wanted.
    """
    got = _shape(answer)
    what = f"shape {got}" if got is not None or _missing(answer) else "no array shape (ragged?)"
    return f"expected an array of shape {tuple(expected_shape)}, got {what}."


# ---------------------------------------------------------------------------
# 00 setup
# ---------------------------------------------------------------------------
def check_preset_choice(answer: Any) -> bool:
    """00: which preset fits a 2 GB Binder session? (the default one)

    Parameters: ``answer``: a preset name.
    """
    from course_utils import config

    ok = isinstance(answer, str) and answer.strip().lower() == config.DEFAULT_PRESET
    return feedback(
        ok,
        "`binder` fits 2 GB of memory and about 10 minutes per notebook on 1-2 cores.",
        hint="look at the preset table above: which preset is sized for 2 GB RAM and no GPU?",
        answer=answer,
    )


# ---------------------------------------------------------------------------
# 01 headers and physical space  (course_utils.io)
# ---------------------------------------------------------------------------
def check_world_point(answer: Any, image: Any, index: Sequence[float]) -> bool:
    """01: the world (LPS mm) position of voxel ``index`` (x, y, z) of a SimpleITK image.

    Parameters: ``answer``: three world coordinates (x, y, z) in mm; ``image``: the
    SimpleITK image; ``index``: the voxel index (x, y, z).
    """
    expected = image.TransformContinuousIndexToPhysicalPoint([float(i) for i in index])
    return feedback(
        close(answer, expected, rtol=0, atol=1e-3),
        "origin + direction @ (spacing * index) is exactly what SimpleITK computes.",
        hint="use the index in x, y, z order (not the array's z, y, x), multiply by the spacing "
             "first, then by the 3x3 direction (np.reshape(image.GetDirection(), (3, 3))), then "
             "add the origin. " + (shape_hint(answer, (3,)) if _shape(answer) != (3,) else ""),
        answer=answer,
    )


def check_orientation_code(answer: Any, image: Any) -> bool:
    """01: the three-letter orientation code of a SimpleITK image's direction matrix.

    Parameters: ``answer``: a code such as ``"LPS"``; ``image``: the SimpleITK image.
    """
    import SimpleITK as sitk

    expected = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(
        image.GetDirection())
    ok = isinstance(answer, str) and answer.strip().upper() == expected
    return feedback(
        ok,
        f"{expected}: each letter says where one voxel axis (x, then y, then z) points.",
        hint="read the direction matrix column by column: column k is where voxel axis k "
             "points in LPS world space; +x is L, -x is R, +y is P, -y is A, +z is S, -z is I.",
        answer=answer,
    )


# ---------------------------------------------------------------------------
# 02 I/O benchmark  (course_utils.pipelines)
# ---------------------------------------------------------------------------
def check_batch_megabytes(answer: Any, example_shape: Sequence[int], batch_size: int) -> bool:
    """02: megabytes (2**20 bytes) of one float32 batch of ``example_shape`` x 1 channel.

    Parameters: ``answer``: megabytes; ``example_shape``: (z, y, x) of one example;
    ``batch_size``: examples per batch.
    """
    expected = float(np.prod(example_shape)) * int(batch_size) * 4 / 2**20
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"{expected:.1f} MB per batch: that is what every pipeline must deliver each step.",
        hint="multiply the voxels of one example by the batch size and by 4 bytes per float32, "
             "then divide by 2**20 (1,048,576) for MB",
        answer=answer,
    )


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


# ---------------------------------------------------------------------------
# 03 normalisation  (course_utils.preprocessing)
# ---------------------------------------------------------------------------
def check_masked_whitening(answer: Any, image: np.ndarray, mask: np.ndarray) -> bool:
    """03: whiten ``image`` with the mean and standard deviation of the voxels inside ``mask``.

    Parameters: ``answer``: the whitened array; ``image``: the volume; ``mask``: the
    brain mask (same shape).
    """
    x = np.asarray(image, dtype=np.float64)
    inside = x[np.asarray(mask, dtype=bool)]
    expected = (x - inside.mean()) / inside.std()
    ok = close(answer, expected, rtol=1e-3, atol=1e-3)
    hint = ("take the statistics from image[mask] only, then apply them to the whole image: "
            "(image - m) / s.")
    if not _missing(answer) and _shape(answer) != x.shape:
        hint = shape_hint(answer, x.shape)
    return feedback(ok, "Inside the brain the result has mean 0 and standard deviation 1; the "
                    "background no longer drags the statistics.", hint=hint, answer=answer)


def check_brain_window(answer: Any) -> bool:
    """03: a CT window (low, high) in HU that spreads brain tissue (CSF 15, WM 25, GM 40) out.

    Parameters: ``answer``: two numbers (low, high) in HU.
    """
    ok = False
    try:
        low, high = (float(v) for v in answer)
        # textbook brain window is about (0, 80); accept windows that keep CSF..GM inside
        # and are narrow enough to separate them (at most 200 HU wide)
        ok = low <= 10 and high >= 45 and high - low <= 200 and low > -200
    except (TypeError, ValueError):
        pass
    return feedback(ok, "A narrow window around 0-80 HU spends the whole [-1, 1] range on the "
                    "few tens of HU that separate CSF, white and grey matter.",
                    hint="give two numbers (low, high): low below CSF (~15 HU), high above grey "
                    "matter (~40 HU), and not much wider than 100-200 HU.", answer=answer)

# ---------------------------------------------------------------------------
# 04 augmentation  (course_utils.augmentation)
# ---------------------------------------------------------------------------
def check_flip_pair(answer: Any, image: np.ndarray, label: np.ndarray) -> bool:
    """04: (image, label) mirrored left-right together ([z, y, x(, C)]: x is axis 2).

    Parameters: ``answer``: the pair (flipped image, flipped label); ``image``, ``label``:
    the originals.
    """
    ok = False
    hint = ("flip BOTH arrays along axis 2 (x runs left-right in the LPS layout [z, y, x]): "
            "np.flip(array, axis=2).")
    try:
        got_image, got_label = answer
        ok = (close(got_image, np.flip(image, axis=2))
              and close(got_label, np.flip(label, axis=2)))
        if close(got_image, np.flip(image, axis=2)) and close(got_label, label):
            hint = "the image is flipped but the labels are not: they no longer match the image."
    except (TypeError, ValueError):
        pass
    return feedback(ok, "Image and labels are mirrored together, so every voxel keeps its label.",
                    hint=hint, answer=answer)

# ---------------------------------------------------------------------------
# 05 class balancing  (course_utils.sampling, losses, metrics)
# ---------------------------------------------------------------------------
def check_median_frequency(answer: Any, labels: Sequence[np.ndarray], n_classes: int) -> bool:
    """05: median-frequency class weights median(f) / f_c from a list of label volumes.

    Parameters: ``answer``: one weight per class; ``labels``: the label volumes;
    ``n_classes``: how many classes.
    """
    voxels = np.zeros(n_classes)
    present = np.zeros(n_classes)
    for lab in labels:
        counts = np.bincount(np.asarray(lab).ravel(), minlength=n_classes)[:n_classes]
        voxels += counts
        present += np.where(counts > 0, np.asarray(lab).size, 0)
    freq = voxels / np.maximum(present, 1)
    expected = np.median(freq) / freq
    return feedback(
        close(answer, expected, rtol=1e-3),
        "Rare classes (the lesions) get weights far above 1, common ones (background) below 1.",
        hint=("f_c = voxels of class c / voxels of the volumes that contain c; the weight is "
              "np.median(f) / f_c, one per class."),
        answer=answer,
    )

# ---------------------------------------------------------------------------
# 06 segmentation  (course_utils.networks, training, inference)
# ---------------------------------------------------------------------------
def check_window_count(answer: Any, shape: Sequence[int] = (48, 56, 48), window: int = 24,
                       overlap: float = 0.5) -> bool:
    """06: how many sliding windows cover a volume of ``shape``?

    Parameters: ``answer``: a count; ``shape``: the volume's (z, y, x); ``window``: the
    window's edge in voxels; ``overlap``: the fraction shared by neighbours.
    """
    from course_utils import inference

    expected = len(list(inference.windows(shape, (window,) * 3, overlap)))
    ok = not _missing(answer) and close(answer, expected)
    step = int(round(window * (1 - overlap)))
    return feedback(
        ok,
        f"{expected} windows: the counts per axis multiply, and the last window of each axis "
        "is moved back to end flush with the volume.",
        hint=f"per axis, windows start every {step} voxels (0, {step}, ...) as long as they fit, "
        "plus one flush with the end if the last start leaves voxels uncovered; multiply the "
        "three counts.",
        answer=answer,
    )


# ---------------------------------------------------------------------------
# 07-10 applications
# ---------------------------------------------------------------------------
def check_baseline_mae(answer: Any, truth: Sequence[float], train_truth: Sequence[float]) -> bool:
    """07: MAE of always predicting the training mean, on held-out subjects.

    Parameters: ``answer``: the MAE in years; ``truth``: held-out ages;
    ``train_truth``: training ages.
    """
    truth = np.asarray(truth, dtype=float)
    expected = np.mean(np.abs(truth - np.mean(train_truth)))
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"The baseline is off by {expected:.1f} years on average: the bar a model must clear.",
        hint=("the baseline predicts np.mean(age[train]) for everyone; average the absolute "
              "differences to age[held_out] (mean of the TRAINING ages, not the held-out ones)."),
        answer=answer,
    )


def check_majority_accuracy(answer: Any, truth: Sequence[int], train_truth: Sequence[int]) -> bool:
    """08: accuracy of always predicting the most common training class, on held-out subjects.

    Parameters: ``answer``: a fraction in [0, 1]; ``truth``: held-out labels;
    ``train_truth``: training labels.
    """
    majority = np.bincount(np.asarray(train_truth, dtype=int)).argmax()
    expected = np.mean(np.asarray(truth, dtype=int) == majority)
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"Always answering class {majority} is right {expected:.0%} of the time: accuracy "
        "alone flatters a classifier when the classes are unbalanced.",
        hint=("find the most common class of the TRAINING labels (np.bincount(...).argmax()), "
              "then the share of held-out labels equal to it."),
        answer=answer,
    )


def check_psnr(answer: Any, predicted: np.ndarray, reference: np.ndarray) -> bool:
    """09/10: PSNR in dB of ``predicted`` against ``reference`` (range of the reference).

    Parameters: ``answer``: PSNR in dB; ``predicted``: the prediction; ``reference``: the
    ground truth.
    """
    predicted = np.asarray(predicted, dtype=float)
    reference = np.asarray(reference, dtype=float)
    mse = np.mean((predicted - reference) ** 2)
    expected = 10 * np.log10(np.ptp(reference) ** 2 / mse)
    return feedback(
        close(answer, expected, rtol=1e-3),
        f"{expected:.2f} dB. Every halving of the MSE adds about 3 dB.",
        hint=("PSNR = 10 * log10(range**2 / MSE), with range = reference.max() - reference.min() "
              "and MSE the mean squared difference."),
        answer=answer,
    )


def check_low_res_shape(answer: Any, shape: Sequence[int], factor: int) -> bool:
    """10: the spatial shape of a volume average-pooled by ``factor`` along each axis.

    Parameters: ``answer``: three sizes; ``shape``: the high-resolution shape;
    ``factor``: the pooling factor.
    """
    expected = [int(n) // int(factor) for n in shape[:3]]
    return feedback(
        close(answer, expected),
        f"{tuple(expected)}: each low-resolution voxel averages {factor}**3 = {factor**3} voxels.",
        hint=shape_hint(answer, (3,)) + f" Divide each of the first three sizes by {factor}.",
        answer=answer,
    )
