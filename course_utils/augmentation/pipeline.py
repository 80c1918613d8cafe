"""Composition, tf.data and cost of the augmentations (lesson 04).

:func:`compose` chains augmentations into one ``f(image, label, rng)`` with its options
checked at once; :func:`map_dataset` runs it on the fly inside ``tf.data``;
:func:`measure_cost` times each augmentation.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from course_utils import checks
from course_utils.augmentation.core import Array, Pair
from course_utils.augmentation.intensity import (
    bias_field,
    gamma_contrast,
    gaussian_noise,
    random_offset,
)
from course_utils.augmentation.spatial import elastic, random_crop, random_flip, random_rotation
from course_utils.errors import ConfigError

#: Every augmentation by name, in the gallery's order: (kind, function).
AUGMENTATIONS: dict[str, tuple[str, Callable[..., Pair]]] = {
    "gaussian_noise": ("intensity", gaussian_noise),
    "random_offset": ("intensity", random_offset),
    "gamma_contrast": ("intensity", gamma_contrast),
    "bias_field": ("intensity", bias_field),
    "random_flip": ("spatial", random_flip),
    "random_rotation": ("spatial", random_rotation),
    "elastic": ("spatial", elastic),
    "random_crop": ("spatial", random_crop),
}


def check_step(fn: Any, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check that ``fn(image, label, rng, **options)`` is a valid call; return the options.

    Parameters: fn, an augmentation; options, its keyword options. An unknown
    option raises ConfigError naming the function and its valid options.
    """
    name = getattr(fn, "__name__", repr(fn))
    if not callable(fn) or not isinstance(options or {}, Mapping):
        raise ConfigError(f"an augmentation step is a function or (function, {{options}}), "
                          f"got {fn!r} with options {options!r}")
    options = dict(options or {})
    params = inspect.signature(fn).parameters.values()
    valid = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    for key in options:
        if key not in valid:
            raise ConfigError(f"{name}() has no option {key!r}; its options are: "
                              f"{', '.join(valid) or 'none'}", name=key)
    required = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    for key in required:
        if key not in options:
            raise ConfigError(f"{name}() needs the option {key!r}: give it as "
                              f"({name}, {{{key!r}: ...}})", name=key)
    try:
        inspect.signature(fn).bind(None, None, None, **options)
    except TypeError as exc:
        raise ConfigError(f"{name} cannot be called as {name}(image, label, rng, **options) "
                          f"({exc}); an augmentation takes (image, label, rng, *, options)",
                          name=name) from None
    return options


def compose(*steps: Callable[..., Pair] | tuple[Callable[..., Pair], dict]) -> Callable[..., Pair]:
    """Chain augmentations into one ``f(image, label, rng) -> (image, label)``.

    Parameters: steps, each a function ``f(image, label, rng, *, options)`` or a
    pair ``(function, {options})``; options are checked at once (:func:`check_step`).
    All draws come from the one ``rng`` in order, so a pipeline is reproducible.
    """
    resolved = [(step[0], check_step(*step)) if isinstance(step, tuple)
                else (step, check_step(step)) for step in steps]

    def pipeline(image: Array, label: Array | None, rng: np.random.Generator) -> Pair:
        for fn, options in resolved:
            image, label = fn(image, label, rng, **options)
        return image, label

    return pipeline


def map_dataset(dataset, fn, seed=42, num_parallel_calls=-1, image_shape=None, label_shape=None):
    """Run a numpy augmentation ``fn(image, label, rng)`` on the fly over a ``(image, label)`` dataset.

    Parameters: ``dataset``: a ``tf.data.Dataset`` of (image, label) pairs; ``fn``: the
    augmentation; ``seed``: element ``index`` gets ``np.random.default_rng([seed, index])``;
    ``num_parallel_calls``: for ``Dataset.map`` (-1 or None: AUTOTUNE); ``image_shape``,
    ``label_shape``: the static shapes of ``fn``'s outputs (default: its inputs').
    """
    import tensorflow as tf  # here: the rest of the package works without TensorFlow

    if not (isinstance(dataset.element_spec, tuple) and len(dataset.element_spec) == 2):
        raise ConfigError(f"map_dataset needs a dataset of (image, label) pairs, got elements "
                          f"{dataset.element_spec}; map it to pairs first", name="dataset")
    spec_image, spec_label = dataset.element_spec

    def numpy_step(index, image, label):  # plain numpy, run by Python outside the graph
        out_image, out_label = fn(image, label, np.random.default_rng([int(seed), int(index)]))
        return np.asarray(out_image, image.dtype), np.asarray(out_label, label.dtype)

    def tf_step(index, pair):
        image, label = tf.numpy_function(numpy_step, [index, *pair],
                                         [spec_image.dtype, spec_label.dtype], stateful=False)
        image.set_shape(spec_image.shape if image_shape is None else image_shape)
        label.set_shape(spec_label.shape if label_shape is None else label_shape)
        return image, label

    parallel = tf.data.AUTOTUNE if num_parallel_calls in (None, -1) else num_parallel_calls
    return dataset.enumerate().map(tf_step, num_parallel_calls=parallel, deterministic=True)


def measure_cost(image: Array, label: Array, options: Mapping[str, Mapping] | None = None, *,
                 repeats: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """Milliseconds per volume of each augmentation in :data:`AUGMENTATIONS` (median of ``repeats``).

    Parameters: image, label, one example; options, per augmentation name its
    keyword options (``random_crop`` needs ``{"size": ...}``); repeats >= 1; seed.
    One row per augmentation: name, kind, ms per volume, volumes per second on
    one core. Used by ``benchmarks/augmentation_cost.py`` and notebook 04.
    """
    options = dict(options or {})
    unknown = sorted(set(options) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"measure_cost: unknown augmentation(s) {unknown}; "
                          f"choose from {', '.join(AUGMENTATIONS)}", name="options")
    repeats = checks.integer(repeats, "repeats", minimum=1)
    rng = np.random.default_rng(seed)
    rows = []
    for name, (kind, fn) in AUGMENTATIONS.items():
        step = check_step(fn, options.get(name))
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(image, label, rng, **step)
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        rows.append({"augmentation": name, "kind": kind, "ms_per_volume": 1000 * seconds,
                     "volumes_per_s": 1.0 / max(seconds, 1e-9)})
    return rows

