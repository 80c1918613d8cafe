"""The dataset cache: manifests, completion markers, folder locks, worker processes.

Plumbing shared by every dataset of :mod:`course_utils.data`; it teaches nothing
and lives only in the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import SimpleITK as sitk

from course_utils.files import atomic_path

MANIFEST = "manifest.json"




def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of a parameter dict."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")


def read_json(path: Path) -> Any | None:
    """Read JSON, or ``None`` if the file is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def file_entries(root: Path, paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Relative path and size of each file, for a manifest."""
    return [
        {"path": str(Path(p).relative_to(root)), "bytes": Path(p).stat().st_size}
        for p in sorted(paths)
    ]


def write_done(folder: Path, paths: Iterable[Path]) -> None:
    """Mark a subject folder complete: record its files' sizes (written last, atomically)."""
    write_json(Path(folder) / "done.json", file_entries(Path(folder), paths))


def done_ok(folder: Path) -> bool:
    """Whether a subject folder was completed and its files are unchanged since."""
    entries = read_json(Path(folder) / "done.json")
    if not entries:
        return False
    for entry in entries:
        path = Path(folder) / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
    return True


def manifest_ok(root: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest of ``root`` if it exists, matches ``params`` and all its files are there."""
    manifest = read_json(Path(root) / MANIFEST)
    if not manifest or manifest.get("params") != json.loads(json.dumps(params, default=str)):
        return None
    for entry in manifest.get("files", []):
        path = Path(root) / entry["path"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return None
    return manifest


@contextlib.contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<root>.lock`` so parallel runs do not generate twice."""
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    lock_path = root.parent / f".{root.name}.lock"
    try:
        import fcntl
    except ImportError:  # Windows: no locking
        yield
        return
    with open(lock_path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def reset_folder(root: Path) -> None:
    """Empty ``root`` (it holds only data this package generated)."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def n_workers(requested: int | None = None) -> int:
    """Worker processes to use: the CPUs this process may run on (at most 8)."""
    if requested:
        return max(1, int(requested))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def _init_worker() -> None:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def parallel_map(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "",
) -> list[Any]:
    """``[func(item) for item in items]`` over worker processes, with a tqdm bar, in order."""
    from tqdm.auto import tqdm

    workers = min(n_workers(workers), max(1, len(items)))
    if len(items) <= 3:  # starting processes costs more than it saves
        workers = 1
    results: list[Any] = [None] * len(items)
    bar = tqdm(total=len(items), desc=desc, unit="subject", disable=not progress)
    try:
        if workers == 1:
            for i, item in enumerate(items):
                results[i] = func(item)
                bar.update()
        else:
            import multiprocessing as mp

            # spawn: safe after TensorFlow started threads, same on every OS; scripts that
            # call load() need the usual `if __name__ == "__main__":` guard
            with ProcessPoolExecutor(
                workers, mp_context=mp.get_context("spawn"), initializer=_init_worker
            ) as pool:
                futures = {pool.submit(func, item): i for i, item in enumerate(items)}
                from concurrent.futures import as_completed

                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
    finally:
        bar.close()
    return results
