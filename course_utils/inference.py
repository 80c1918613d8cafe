"""Inference: sliding-window prediction over whole volumes, back to the scan's own grid, written with its header (06).

A network trained on patches predicts a whole volume window by window. The
windows overlap (``overlap=0.5``: each voxel is seen by up to 8 windows in 3D)
and their predictions are blended with weights that are largest at a window's
centre and small at its edges, where a convolutional network sees zero padding
instead of brain and is least reliable (Gaussian weights, as in nnU-Net, or
linear "tent" weights). Windows are predicted a batch at a time.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from course_utils import checks
from course_utils.errors import ConfigError, DataError, ModelError, ShapeError

Triple = tuple[int, int, int]
BLENDINGS = ("gaussian", "linear", "constant")


def window_starts(size: int, window: int, step: int) -> list[int]:
    """Start indices of windows of ``window`` voxels every ``step`` voxels along an axis of
    ``size`` voxels, the last window flush with the end."""
    size = checks.integer(size, "size", minimum=1)
    window = checks.integer(window, "window", minimum=1)
    step = checks.integer(step, "step", minimum=0)
    if window > size:
        raise ShapeError(f"a window of {window} voxels does not fit in {size} voxels")
    starts = list(range(0, size - window + 1, max(1, step)))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def blending_weights(window: int | Sequence[int], mode: str = "gaussian",
                     sigma_scale: float = 0.125) -> np.ndarray:
    """Weights [z, y, x] of one window, maximum 1 and never zero (every voxel gets a prediction).

    Parameters: ``window`` size (one or three integers); ``mode`` ``"gaussian"`` (sigma =
    ``sigma_scale`` x size), ``"linear"`` (tent, highest at the centre) or ``"constant"``
    (plain average); ``sigma_scale`` > 0, the Gaussian's width as a fraction of the window.
    """
    shape = checks.triple(window, "window")
    mode = checks.option(mode, BLENDINGS, "blending")
    sigma_scale = checks.number(sigma_scale, "sigma_scale", minimum=0.0, open_min=True)
    axes = []
    for n in shape:
        i = np.arange(n, dtype=np.float64)
        centre = (n - 1) / 2
        if mode == "gaussian":
            w = np.exp(-0.5 * ((i - centre) / (sigma_scale * n)) ** 2)
        elif mode == "linear":
            w = 1.0 - np.abs(i - centre) / (centre + 1)
        else:
            w = np.ones(n)
        axes.append(np.maximum(w / w.max(), 1e-8))  # per axis, so the weights stay separable
    weights = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return weights.astype(np.float32)


def windows(shape: Sequence[int], window: Sequence[int],
            overlap: float) -> Iterator[tuple[slice, slice, slice]]:
    """The slices of every window covering a volume.

    Parameters: ``shape`` the volume's (z, y, x) size; ``window`` the window's (z, y, x)
    size; ``overlap`` the fraction of a window shared with the next, in [0, 1).
    """
    overlap = checks.number(overlap, "overlap", minimum=0.0, maximum=1.0, open_max=True)
    per_axis = [
        [slice(s, s + w) for s in window_starts(n, w, int(round(w * (1 - overlap))))]
        for n, w in zip(shape, window, strict=True)
    ]
    yield from itertools.product(*per_axis)


def _model_input(model) -> tuple[Triple | None, int | None]:
    """(fixed spatial window or None, number of input channels or None) of a 5D-input model."""
    shape = getattr(model, "input_shape", None)
    if shape is None or len(shape) != 5:
        return None, None
    spatial = None if any(s is None for s in shape[1:4]) else tuple(int(s) for s in shape[1:4])
    return spatial, shape[4]  # type: ignore[return-value]


def _check_window(model, image: np.ndarray, window) -> Triple:
    """The window to use: the model's fixed input size or ``window``, checked against both."""
    import keras

    from course_utils.networks import size_multiple

    fixed, channels = _model_input(model)
    if channels is not None and image.shape[-1] != channels:
        raise ShapeError(f"the model takes {channels} input channel(s) but the image of shape "
                         f"{image.shape} has {image.shape[-1]}; stack the sequences it was "
                         "trained on, in the same order")
    if window is None:
        if fixed is None:
            raise ConfigError("this model accepts any size: give the window size, e.g. window=32",
                              name="window")
        return fixed
    window = checks.triple(window, "window")
    if fixed is not None and window != fixed:
        raise ShapeError(f"this model was built for windows of {fixed} voxels (its input shape "
                         f"{model.input_shape}); pass window={fixed} or window=None")
    multiple = size_multiple(model) if isinstance(model, keras.Model) else (1, 1, 1)
    if any(w % m for w, m in zip(window, multiple, strict=True)):
        raise ShapeError(
            f"window {window} must be a multiple of {multiple} for this network "
            "(the product of its strides); choose another window size")
    return window


def _pad_to_window(image: np.ndarray, window: Triple, pad: bool) -> np.ndarray:
    """``image`` zero-padded at the end of every axis shorter than ``window`` (if ``pad``)."""
    spatial = image.shape[:3]
    if all(n >= w for n, w in zip(spatial, window, strict=True)):
        return image
    if not pad:
        raise ShapeError(
            f"the volume of shape {spatial} is smaller than the window {window}; pass "
            "pad=True to zero-pad it, choose a smaller window, or resample/pad the image "
            "(preprocessing.crop_or_pad)")
    padding = [(0, max(0, w - n)) for n, w in zip(spatial, window, strict=True)] + [(0, 0)]
    return np.pad(image, padding)


def blend_windows(predict, image: np.ndarray, slices: list, weights: np.ndarray,
                  batch_size: int = 1) -> np.ndarray:
    """Predict every window of ``image`` and average the overlapping predictions, weighted.

    Parameters: ``predict`` a function from a batch of windows [n, z, y, x, C] to class
    probabilities [n, z, y, x, K] (e.g. ``model.predict_on_batch``); ``image`` the volume
    [z, y, x, C]; ``slices`` the windows, each a (z, y, x) tuple of slices; ``weights`` one
    window's weights [z, y, x], largest at its centre; ``batch_size`` windows per call.
    Returns the blended probabilities [z, y, x, K].
    """
    total = None
    weight_sum = np.zeros(image.shape[:3], dtype=np.float32)
    for first in range(0, len(slices), batch_size):
        chunk = slices[first:first + batch_size]
        predictions = np.asarray(predict(np.stack([image[s] for s in chunk])), dtype=np.float32)
        if total is None:  # now we know the number of classes K
            total = np.zeros(image.shape[:3] + predictions.shape[-1:], dtype=np.float32)
        for s, prediction in zip(chunk, predictions, strict=True):
            total[s] += prediction * weights[..., None]  # a weighted sum of votes per voxel...
            weight_sum[s] += weights
    return total / weight_sum[..., None]  # ...divided by the sum of the weights


def _checked_predict(model, window: Triple):
    """``model.predict_on_batch`` that refuses outputs that are not voxel-wise on the window."""
    def predict(batch: np.ndarray) -> np.ndarray:
        predictions = np.asarray(model.predict_on_batch(batch), dtype=np.float32)
        if predictions.ndim != 5 or predictions.shape[1:4] != window:
            raise ShapeError(
                f"windows of {window} voxels gave outputs of shape {predictions.shape[1:]}; "
                "sliding-window inference blends voxel-wise outputs of the window's size "
                "(a segmentation network), not per-window values or another grid")
        return predictions
    return predict


def sliding_window_predict(
    model,
    image: np.ndarray,
    window: int | Sequence[int] | None = None,
    overlap: float = 0.5,
    batch_size: int = 4,
    blending: str = "gaussian",
    pad: bool = False,
    sigma_scale: float = 0.125,
) -> np.ndarray:
    """Predict a whole volume [z, y, x, C] window by window; return blended outputs [z, y, x, K].

    Parameters: ``model`` a Keras model on (batch, z, y, x, C); ``image`` the volume
    ([z, y, x] for one channel); ``window`` the window size (one or three integers),
    default the model's fixed input size, and a multiple of ``networks.size_multiple(model)``;
    ``overlap`` in [0, 1); ``batch_size`` windows per prediction; ``blending`` and
    ``sigma_scale`` as in :func:`blending_weights`; ``pad`` if True, a volume smaller than
    the window is zero-padded at the end of that axis (zero = the mean of a whitened
    image) and the result cropped back, else it raises :class:`ShapeError`.
    A non-finite image raises DataError; a non-finite prediction, ModelError.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[..., None]
    if image.ndim != 4:
        raise ShapeError(f"expected an image of shape (z, y, x, channels), got shape {image.shape}")
    if not np.all(np.isfinite(image)):
        raise DataError(f"the image of shape {image.shape} holds NaN or infinite values; fix "
                        "them before predicting (e.g. np.nan_to_num after checking why)")
    overlap = checks.number(overlap, "overlap", minimum=0.0, maximum=1.0, open_max=True)
    batch_size = checks.integer(batch_size, "batch_size", minimum=1)
    window = _check_window(model, image, window)
    weights = blending_weights(window, blending, sigma_scale)
    spatial = image.shape[:3]
    padded = _pad_to_window(image, window, checks.boolean(pad, "pad"))
    slices = list(windows(padded.shape[:3], window, overlap))
    result = blend_windows(_checked_predict(model, window), padded, slices, weights, batch_size)
    if not np.all(np.isfinite(result)):
        raise ModelError("the model predicted NaN or infinite values (a training run that "
                         "diverged?); check the training loss and restore a good checkpoint")
    return result[: spatial[0], : spatial[1], : spatial[2]]


def segment(model, image: np.ndarray, **kwargs) -> np.ndarray:
    """Label map [z, y, x] (uint8): the most probable class of :func:`sliding_window_predict`.

    Parameters: ``model``, ``image`` and ``kwargs`` as in :func:`sliding_window_predict`.
    """
    return sliding_window_predict(model, image, **kwargs).argmax(-1).astype(np.uint8)


def resample_probabilities(probabilities: np.ndarray, grid: sitk.Image | str | Path,
                           reference: sitk.Image | str | Path) -> np.ndarray:
    """Class probabilities [z, y, x, K] predicted on ``grid``, resampled onto ``reference``'s grid.

    Parameters: ``probabilities`` e.g. from :func:`sliding_window_predict`, on ``grid``;
    ``grid`` the image (or path) they were predicted on (the standardised scan);
    ``reference`` the image (or path) whose grid is wanted (the scan as acquired).
    Every class is interpolated linearly through physical space, which undoes
    reorientation, resampling and crop/pad at once; voxels outside ``grid`` are background
    (class 0). Take the arg-max afterwards: interpolating probabilities, not labels, keeps
    boundaries smooth on an anisotropic grid. No overlap at all raises ShapeError.
    """
    probabilities = np.asarray(probabilities, dtype=np.float32)
    grid, reference = _as_image(grid), _as_image(reference)
    expected = tuple(reversed(grid.GetSize()))
    if probabilities.ndim != 4 or probabilities.shape[:3] != expected:
        raise ShapeError(f"probabilities of shape {probabilities.shape} do not fit the grid of "
                         f"size {grid.GetSize()} (expected {expected} + (classes,), z, y, x)")
    inside = sitk.Resample(sitk.Cast(grid * 0 + 1, sitk.sitkUInt8), reference, sitk.Transform(),
                           sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(inside).any():
        raise ShapeError("the prediction's grid and the reference do not overlap in physical "
                         "space: is grid= the image the prediction was made on?")
    out = []
    for k in range(probabilities.shape[-1]):
        image = sitk.GetImageFromArray(probabilities[..., k])
        image.CopyInformation(grid)
        out.append(sitk.GetArrayFromImage(sitk.Resample(
            image, reference, sitk.Transform(), sitk.sitkLinear, 1.0 if k == 0 else 0.0,
            sitk.sitkFloat32)))
    return np.stack(out, axis=-1)


def _as_image(image: sitk.Image | str | Path) -> sitk.Image:
    from course_utils import io

    return image if isinstance(image, sitk.Image) else io.read_image(image)


def _labels_on_grid(labels, grid) -> sitk.Image:
    """The label map as a uint8 SimpleITK image on the grid it was predicted on."""
    from course_utils import io
    from course_utils.preprocessing import check_label_map

    if isinstance(labels, sitk.Image):
        if grid is not None and not io.same_geometry(labels, _as_image(grid)):
            raise ShapeError("the label image's own geometry differs from grid=; pass one of them")
        array, grid = sitk.GetArrayFromImage(labels), labels
    elif grid is None:
        raise ConfigError(
            "a label array carries no geometry: pass grid=<the image the prediction was made on> "
            "(e.g. the standardised scan), so that it can be written on, or resampled onto, the "
            "reference's grid", name="grid")
    else:
        array, grid = np.asarray(labels), _as_image(grid)
    array = check_label_map(array, n_classes=256, name="labels").astype(np.uint8)
    expected = tuple(reversed(grid.GetSize()))
    if array.shape != expected:
        raise ShapeError(f"labels of shape {array.shape} do not fit the grid of size "
                         f"{grid.GetSize()} (expected {expected}, z, y, x)")
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(grid)
    return image


def write_segmentation(labels: np.ndarray | sitk.Image, reference: sitk.Image | str | Path,
                       path: str | Path, *, grid: sitk.Image | str | Path | None = None) -> Path:
    """Write a label map as NIfTI on ``reference``'s grid (spacing, origin, direction, size).

    Parameters: ``labels`` a label map [z, y, x] (integers 0..255), or a SimpleITK label
    image that carries its own grid; ``reference`` the image (or its path) whose grid the
    file gets, e.g. the raw scan; ``path`` the output file; ``grid`` the image (or path)
    the prediction was made on, required for an array (an array carries no geometry, and
    taking ``reference``'s would mirror or shift it if the prediction was made on another
    grid). Where the two grids differ, the labels are resampled onto ``reference`` with
    nearest-neighbour interpolation through physical space (voxels outside the
    prediction's grid get 0); a prediction that does not overlap ``reference`` at all
    raises ShapeError.
    """
    from course_utils import io

    image = _labels_on_grid(labels, grid)
    reference = _as_image(reference)
    if not io.same_geometry(image, reference):
        resampled = sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor,
                                  0, sitk.sitkUInt8)
        if sitk.GetArrayViewFromImage(image).any() and not sitk.GetArrayViewFromImage(resampled).any():
            raise ShapeError("the prediction's grid and the reference do not overlap in physical "
                             "space: is grid= the image the prediction was made on?")
        image = resampled
    else:
        image.CopyInformation(reference)  # the reference's header exactly, not within tolerance
    return io.write_image(image, path)
