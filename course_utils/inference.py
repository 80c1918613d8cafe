"""Inference: sliding-window prediction over whole volumes, and writing the result with the header (06).

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

from course_utils.errors import ConfigError, ShapeError

Triple = tuple[int, int, int]


def _triple(value: int | Sequence[int], what: str) -> Triple:
    values = np.atleast_1d(np.asarray(value))
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.size != 3 or np.any(values < 1) or not np.all(values == np.round(values)):
        raise ConfigError(f"{what} must be a positive integer or three of them, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def window_starts(size: int, window: int, step: int) -> list[int]:
    """Start indices of windows of ``window`` voxels every ``step`` voxels, the last flush with the end."""
    if window > size:
        raise ShapeError(f"a window of {window} voxels does not fit in {size} voxels")
    starts = list(range(0, size - window + 1, max(1, step)))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def blending_weights(window: int | Sequence[int], mode: str = "gaussian",
                     sigma_scale: float = 0.125) -> np.ndarray:
    """Weights [z, y, x] of one window: ``"gaussian"`` (sigma = ``sigma_scale`` x size),
    ``"linear"`` (tent, highest at the centre) or ``"constant"`` (plain average); maximum 1,
    never zero so that every voxel gets a prediction."""
    shape = _triple(window, "window")
    axes = []
    for n in shape:
        i = np.arange(n, dtype=np.float64)
        centre = (n - 1) / 2
        if mode == "gaussian":
            w = np.exp(-0.5 * ((i - centre) / (sigma_scale * n)) ** 2)
        elif mode == "linear":
            w = 1.0 - np.abs(i - centre) / (centre + 1)
        elif mode == "constant":
            w = np.ones(n)
        else:
            raise ConfigError(f"blending must be 'gaussian', 'linear' or 'constant', got {mode!r}")
        axes.append(np.maximum(w / w.max(), 1e-8))  # per axis, so the weights stay separable
    weights = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    return weights.astype(np.float32)


def windows(shape: Sequence[int], window: Sequence[int],
            overlap: float) -> Iterator[tuple[slice, slice, slice]]:
    """The slices of every window covering a volume of ``shape`` with the given ``overlap``."""
    if not 0 <= overlap < 1:
        raise ConfigError(f"overlap must be in [0, 1), got {overlap!r}")
    per_axis = [
        [slice(s, s + w) for s in window_starts(n, w, int(round(w * (1 - overlap))))]
        for n, w in zip(shape, window, strict=True)
    ]
    yield from itertools.product(*per_axis)


def _model_window(model) -> Triple | None:
    shape = getattr(model, "input_shape", None)
    if shape is None or len(shape) != 5 or any(s is None for s in shape[1:4]):
        return None
    return tuple(int(s) for s in shape[1:4])  # type: ignore[return-value]


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

    ``window`` defaults to the model's fixed input size. A volume smaller than the
    window along some axis raises :class:`ShapeError`, unless ``pad=True``, which
    zero-pads it at the end of that axis (zero = the mean of a whitened image) and
    crops the result back to the volume's shape. ``sigma_scale`` sets the width of
    Gaussian weights as a fraction of the window (smaller: edges count less).
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3:
        image = image[..., None]
    if image.ndim != 4:
        raise ShapeError(f"expected an image of shape (z, y, x, channels), got shape {image.shape}")
    if window is None:
        window = _model_window(model)
        if window is None:
            raise ConfigError("this model accepts any size: give the window size, e.g. window=32")
    window = _triple(window, "window")
    multiple = getattr(model, "size_multiple", (1, 1, 1))
    if any(w % m for w, m in zip(window, multiple, strict=True)):
        raise ShapeError(
            f"window {window} must be a multiple of {tuple(multiple)} for this network "
            "(the product of its strides); choose another window size"
        )
    spatial = image.shape[:3]
    if any(n < w for n, w in zip(spatial, window, strict=True)):
        if not pad:
            raise ShapeError(
                f"the volume of shape {spatial} is smaller than the window {window}; pass "
                "pad=True to zero-pad it, choose a smaller window, or resample/pad the image "
                "(preprocessing.crop_or_pad)"
            )
        padding = [(0, max(0, w - n)) for n, w in zip(spatial, window, strict=True)] + [(0, 0)]
        image = np.pad(image, padding)
    weights = blending_weights(window, blending, sigma_scale)
    total = None
    weight_sum = np.zeros(image.shape[:3], dtype=np.float32)
    slices = list(windows(image.shape[:3], window, overlap))
    for first in range(0, len(slices), batch_size):
        chunk = slices[first:first + batch_size]
        batch = np.stack([image[s] for s in chunk])
        predictions = np.asarray(model.predict_on_batch(batch), dtype=np.float32)
        if total is None:
            total = np.zeros(image.shape[:3] + predictions.shape[-1:], dtype=np.float32)
        for s, prediction in zip(chunk, predictions, strict=True):
            total[s] += prediction * weights[..., None]
            weight_sum[s] += weights
    result = total / weight_sum[..., None]
    return result[: spatial[0], : spatial[1], : spatial[2]]


def segment(model, image: np.ndarray, **kwargs) -> np.ndarray:
    """Label map [z, y, x] (uint8): the most probable class of :func:`sliding_window_predict`."""
    return sliding_window_predict(model, image, **kwargs).argmax(-1).astype(np.uint8)


def write_segmentation(labels: np.ndarray, reference: sitk.Image | str | Path,
                       path: str | Path) -> Path:
    """Write a label map [z, y, x] as NIfTI with ``reference``'s exact spacing, origin and direction."""
    from course_utils import io

    if not isinstance(reference, sitk.Image):
        reference = io.read_image(reference)
    return io.write_like(np.asarray(labels, dtype=np.uint8), reference, path)
