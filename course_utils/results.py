"""Recorded results: each notebook ends by writing ``<reports>/<stem>.metrics.json``."""

from __future__ import annotations

import json
import math
import platform
import resource
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course_utils import config
from course_utils.files import atomic_path


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its finished children, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    scale = 1 / 1024 if platform.system() != "Darwin" else 1 / 1024 / 1024
    return round(max(own, kids) * scale, 1)


def _plain(value: Any) -> Any:
    """Turn numpy scalars/arrays and paths into JSON values (NaN becomes null)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_path(notebook: str) -> Path:
    """Where :func:`record_metrics` writes the results of ``notebook``."""
    return config.reports_dir() / f"{notebook}.metrics.json"


def record_metrics(notebook: str, params: dict, metrics: dict[str, Any]) -> Path:
    """Write the run's preset, parameters, runtime, peak memory and metrics as JSON."""
    start = config.start_time()
    record = {
        "notebook": notebook,
        "preset": params.get("preset"),
        "params": _plain(dict(params)),
        "runtime_s": None if start is None else round(time.perf_counter() - start, 2),
        "peak_memory_mb": peak_memory_mb(),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "metrics": _plain(metrics),
    }
    path = metrics_path(notebook)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return path


def read_metrics(notebook: str) -> dict[str, Any]:
    """Read what ``notebook`` recorded (raises FileNotFoundError if it never finished)."""
    return json.loads(metrics_path(notebook).read_text(encoding="utf-8"))
