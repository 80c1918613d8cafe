"""Recorded results: each notebook ends by writing ``<reports>/<stem>.metrics.json``."""

from __future__ import annotations

import json
import math
import platform
import resource
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course_utils import config
from course_utils.errors import ConfigError, CourseError
from course_utils.files import atomic_path


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if platform.system() != "Darwin" else 1 / 1024 / 1024
    return round(max(own, kids) * scale, 1)


def _plain(value: Any, key: str) -> Any:
    """Turn numpy scalars/arrays and paths into JSON values (NaN becomes null)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return _plain(value.tolist(), key)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise ConfigError(
        f"metric {key!r} is a {type(value).__name__}, which a JSON record cannot hold; "
        "record numbers, strings, lists or dicts of them (e.g. float(x), list(x))", name=key,
    )


def metrics_path(notebook: str) -> Path:
    """Where :func:`record_metrics` writes the results of ``notebook``.

    Parameters: ``notebook``: the notebook's stem, e.g. ``"06_segmentation"``.
    """
    if not isinstance(notebook, str) or not notebook or notebook.startswith(".") or any(
            sep in notebook for sep in "/\\"):
        raise ConfigError(f"notebook must be a notebook's name such as '06_segmentation', "
                          f"got {notebook!r}", name="notebook")
    return config.reports_dir() / f"{notebook}.metrics.json"


def record_metrics(notebook: str, params: Mapping[str, Any],
                   metrics: Mapping[str, Any]) -> Path:
    """Write the run's preset, parameters, runtime, peak memory and metrics as JSON.

    Parameters: ``notebook``: the notebook's stem; ``params``: what
    :func:`course_utils.config.resolve` returned (its ``started`` clock gives the
    runtime; a plain dict records no runtime); ``metrics``: name -> number, string,
    array, or a list or dict of them. Returns the path written (atomically).
    """
    path = metrics_path(notebook)
    for name, value in (("params", params), ("metrics", metrics)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} must be a dict (the Params of config.resolve for "
                              f"params), got {type(value).__name__}", name=name)
    start = getattr(params, "started", None)
    record = {
        "notebook": notebook,
        "preset": params.get("preset"),
        "params": _plain(dict(params), "params"),
        "runtime_s": None if start is None else round(time.perf_counter() - start, 2),
        "peak_memory_mb": peak_memory_mb(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": _plain(metrics, "metrics"),
    }
    text = json.dumps(record, indent=2)
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except CourseError:
        raise
    except OSError as exc:  # a folder we cannot write, or a file where the folder should be
        raise CourseError(
            f"cannot write the results to {path} ({exc.strerror or exc}); make "
            f"{path.parent} a writable folder, or set COURSE_REPORTS_DIR to one", path=path,
        ) from exc
    return path


def read_metrics(notebook: str) -> dict[str, Any]:
    """Read what ``notebook`` recorded (raises FileNotFoundError if it never finished).

    Parameters: ``notebook``: the notebook's stem.
    """
    return json.loads(metrics_path(notebook).read_text(encoding="utf-8"))
