"""Patch sampling (lesson 05): uniform random patches versus class-balanced patches.

Both samplers take an image ``[z, y, x]`` or ``[z, y, x, C]`` and its label map
``[z, y, x]`` and return ``(patches [n, p, p, p, C], label_patches [n, p, p, p])``.

Class-balanced sampling draws, for each patch, a class (uniformly, or with
``class_weights``), then a random voxel of that class, and cuts the patch
around it. The patch is shifted (never shrunk) where it would leave the
volume, so the chosen voxel is always inside the patch, though not always at
its centre near the border.

**Absent classes** (a young subject with no lesion): by default
(``missing="redistribute"``) the weight of a class that does not occur in this
volume is shared among the classes that do, in proportion to their weights,
without a warning, because this happens on almost every volume of a real
cohort; the third value returned by :func:`balanced_patch_classes` says which
classes were used. ``missing="raise"`` raises a DataError instead. A request
whose classes are all absent always raises.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import numpy as np

from course_utils import checks
from course_utils.errors import ConfigError, DataError, ShapeError
from course_utils.preprocessing import check_intensity_image, check_label_map

Seed: TypeAlias = np.random.Generator | int | None  # a Generator, or a seed for np.random.default_rng


def _prepare(image: np.ndarray, label: np.ndarray, patch_size: int | Sequence[int]):
    """Check shapes; return image as [z, y, x, C], the label, the patch size and the shape."""
    size = checks.triple(patch_size, "patch_size")
    image = check_intensity_image(image)  # a label map passed as the image is an error
    if image.ndim == 3:
        image = image[..., None]
    if image.ndim != 4:
        raise ShapeError(f"image must be [z, y, x] or [z, y, x, C], got shape {image.shape}")
    label = check_label_map(label)
    shape = image.shape[:3]
    if label.shape != shape:
        raise ShapeError(
            f"label shape {label.shape} does not match the image's spatial shape {shape}"
        )
    if any(s > n for s, n in zip(size, shape, strict=True)):
        raise ShapeError(
            f"patch size {size} is larger than the volume {shape}; use a smaller patch_size "
            "or pad the volume (preprocessing.crop_or_pad)"
        )
    return image, label, size, shape


def cut_patches(image, label, corners, size):
    """Cut the blocks ``[corner, corner + size)`` out of ``image`` and ``label``.

    Parameters: ``image``: [z, y, x, C]; ``label``: [z, y, x]; ``corners``: (n, 3) first
    voxels (z, y, x); ``size``: the blocks' edges (z, y, x).
    Returns (patches [n, *size, C], label patches [n, *size]).
    """
    blocks = [tuple(slice(c, c + s) for c, s in zip(corner, size, strict=True))
              for corner in corners]
    patches = np.array([image[b] for b in blocks], image.dtype).reshape(-1, *size, image.shape[-1])
    labels = np.array([label[b] for b in blocks], label.dtype).reshape(-1, *size)
    return patches, labels


def _rng(rng: Seed) -> np.random.Generator:
    if rng is not None and not isinstance(rng, (np.random.Generator, int, np.integer)):
        raise ConfigError(f"rng must be a numpy Generator (np.random.default_rng(seed)) or an "
                          f"integer seed, got {type(rng).__name__}", name="rng")
    return np.random.default_rng(rng)  # a Generator is used as it is, not copied


def random_patches(
    image: np.ndarray, label: np.ndarray, patch_size: int | Sequence[int], n: int,
    rng: Seed,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches at uniformly random positions (every fitting position equally likely).

    Parameters: ``image``: ``[z, y, x]`` or ``[z, y, x, C]``; ``label``: ``[z, y, x]``
    integer labels; ``patch_size``: one size or three (z, y, x), no larger than the
    volume; ``n``: how many (0 gives empty arrays); ``rng``: a numpy Generator or a seed.
    """
    image, label, size, shape = _prepare(image, label, patch_size)
    n, rng = checks.integer(n, "n", minimum=0), _rng(rng)
    corners = np.stack([rng.integers(0, s - p + 1, n) for s, p in zip(shape, size,
                                                                       strict=True)], axis=1)
    return cut_patches(image, label, corners, size)


def _class_probabilities(
    label: np.ndarray, n_classes: int | None, class_weights, missing: str
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class draw probabilities after handling absent classes; also the class counts."""
    checks.option(missing, ("redistribute", "raise"), "missing")
    if n_classes is not None:
        n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    if class_weights is None:
        if n_classes is None:
            n_classes = int(label.max()) + 1
        weights = np.ones(n_classes)
    elif isinstance(class_weights, Mapping):
        keys = [checks.integer(k, "a class in class_weights", minimum=0) for k in class_weights]
        if n_classes is None:
            n_classes = max(int(label.max()), *keys) + 1
        weights = np.zeros(n_classes)
        for k, w in zip(keys, class_weights.values(), strict=True):
            if k >= n_classes:
                raise ConfigError(f"class {k} in class_weights is outside 0..{n_classes - 1}",
                                  name="class_weights")
            weights[k] = checks.number(w, f"class_weights[{k}]", minimum=0)
    else:
        try:
            if isinstance(class_weights, (str, bytes)):
                raise TypeError(class_weights)
            weights = np.asarray(class_weights, dtype=float).ravel()
        except (TypeError, ValueError):
            raise ConfigError(f"class_weights must be one number per class or {{class: weight}}, "
                              f"got {class_weights!r}", name="class_weights") from None
        n_classes = weights.size if n_classes is None else n_classes
        if weights.size != n_classes:
            raise ConfigError(
                f"class_weights has {weights.size} entries but there are {n_classes} classes",
                name="class_weights",
            )
    if np.any(weights < 0) or not np.all(np.isfinite(weights)) or weights.sum() == 0:
        raise ConfigError(f"class_weights must be >= 0 with a positive sum, got {weights}",
                          name="class_weights")
    if int(label.max()) >= n_classes:
        raise DataError(f"the label map holds class {int(label.max())}, but n_classes is "
                        f"{n_classes}; pass the right number of classes")
    counts = np.bincount(label.ravel(), minlength=n_classes)[:n_classes]
    absent = (counts == 0) & (weights > 0)
    if absent.any():
        if missing == "raise" or np.all(counts[weights > 0] == 0):
            raise DataError(
                f"class(es) {np.flatnonzero(absent).tolist()} requested by the class-balanced "
                f"sampler do not occur in this label map (voxel counts per class: "
                f"{counts.tolist()}); give them weight 0, or use missing='redistribute' to share "
                "their weight among the present classes"
            )
    return class_draw_probabilities(counts, weights), counts


def class_draw_probabilities(counts, weights):
    """The probability of drawing each class: its weight, or 0 where the volume has none of it.

    Parameters: ``counts``: voxels of each class in this volume; ``weights``: the relative
    draw weight of each class. An absent class's share goes to the present ones, in
    proportion to their weights.
    """
    weights = np.where(np.asarray(counts) > 0, weights, 0.0)
    return weights / weights.sum()


def balanced_centres(label, n, rng, probabilities):
    """``n`` patch centres: per patch a class drawn with ``probabilities``, then a voxel of it.

    Parameters: ``label``: [z, y, x] integer labels; ``n``: how many centres; ``rng``: a
    numpy Generator; ``probabilities``: one per class, summing to 1, 0 for absent classes.
    Returns the centres (n, 3) as (z, y, x) and the class drawn for each.
    """
    classes = rng.choice(len(probabilities), size=n, p=probabilities)
    centres = np.zeros((n, 3), dtype=int)
    for c in np.unique(classes):
        drawn = np.flatnonzero(classes == c)  # the patches drawn for class c
        voxels = np.flatnonzero(label == c)  # every voxel of class c (flat indices)
        picks = voxels[rng.integers(0, voxels.size, drawn.size)]
        centres[drawn] = np.stack(np.unravel_index(picks, label.shape), axis=1)
    return centres, classes


def corners_around(centres, size, shape):
    """First voxels of blocks of ``size`` centred on ``centres``, shifted (never shrunk) into ``shape``.

    Parameters: ``centres``: (n, 3) voxels (z, y, x); ``size``: the blocks' edges;
    ``shape``: the volume's (z, y, x), each at least ``size``.
    """
    low = np.asarray(centres) - np.asarray(size) // 2
    return np.clip(low, 0, np.asarray(shape) - np.asarray(size))


def balanced_patch_classes(
    image: np.ndarray, label: np.ndarray, patch_size: int | Sequence[int], n: int,
    rng: Seed, class_weights: Sequence[float] | Mapping[int, float] | None = None,
    n_classes: int | None = None, missing: str = "redistribute",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like :func:`balanced_patches`, also returning the class each patch was drawn for.

    Parameters (as for :func:`balanced_patches`): ``image``, ``label``, ``patch_size``, ``n``,
    ``rng``, ``class_weights``, ``n_classes``, ``missing``.
    """
    image, label, size, shape = _prepare(image, label, patch_size)
    n, rng = checks.integer(n, "n", minimum=0), _rng(rng)
    probs, _ = _class_probabilities(label, n_classes, class_weights, missing)
    centres, classes = balanced_centres(label, n, rng, probs)
    patches, labels = cut_patches(image, label, corners_around(centres, size, shape), size)
    return patches, labels, classes


def balanced_patches(
    image: np.ndarray, label: np.ndarray, patch_size: int | Sequence[int], n: int,
    rng: Seed, class_weights: Sequence[float] | Mapping[int, float] | None = None,
    n_classes: int | None = None, missing: str = "redistribute",
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` patches each containing a voxel of a class drawn per patch (uniform or weighted).

    Parameters: ``image``, ``label``, ``patch_size``, ``n``, ``rng``: as for
    :func:`random_patches`; ``class_weights``: relative draw probability per class
    (a list with one entry per class, or ``{class: weight}``; classes left out of a
    dict get 0); ``n_classes``: defaults to the length of ``class_weights``, else
    the label maximum + 1; ``missing``: ``"redistribute"`` or ``"raise"`` for classes
    absent from this label map (see the module docstring).
    """
    patches, labels, _ = balanced_patch_classes(
        image, label, patch_size, n, rng, class_weights, n_classes, missing)
    return patches, labels


def class_frequencies(labels: np.ndarray | Iterable[np.ndarray], n_classes: int) -> np.ndarray:
    """Share of voxels of each class (sums to 1) in one array or an iterable of arrays.

    Parameters: ``labels``: one integer label array or several; ``n_classes``: how
    many classes (labels must lie in ``0..n_classes - 1``).
    """
    n_classes = checks.integer(n_classes, "n_classes", minimum=1)
    if isinstance(labels, np.ndarray):
        labels = [labels]
    counts = np.zeros(n_classes, dtype=np.int64)
    for lab in labels:
        lab = check_label_map(lab, n_classes)
        counts += np.bincount(lab.ravel(), minlength=n_classes)[:n_classes]
    total = counts.sum()
    if total == 0:
        raise DataError("no voxels to count: the label arrays are empty")
    return counts / total
