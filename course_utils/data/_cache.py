"""The dataset cache: manifests, completion markers, folder locks, worker processes.

Plumbing shared by every dataset of :mod:`course_utils.data`; it teaches nothing
and lives only in the package. Two rules hold throughout:

* **Only the course's own folders are ever emptied.** A folder the package creates
  gets a marker file (:data:`MARKER`); :func:`claim_folder` refuses a non-empty
  folder without it (a thesis folder, ``$COURSE_DATA_DIR`` itself), and
  :func:`reset_folder` empties nothing else.
* **Nothing waits silently.** A lock held by another process prints who holds it and
  times out; a script without ``if __name__ == "__main__":`` gets an error instead of
  a deadlock; worker processes die with the process that started them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from course_utils import checks
from course_utils.errors import ConfigError, CourseError, DataError
from course_utils.files import atomic_path, remove_partials

MANIFEST = "manifest.json"
MARKER = ".course_utils_dataset"  # in every folder this package created (and so may empty)
LOCK_TIMEOUT = 3600.0  # seconds; override with $COURSE_LOCK_TIMEOUT
MAIN_GUARD = (
    "put the code that calls course_utils.data.load() under `if __name__ == \"__main__\":` "
    "(worker processes start by importing your script again), or pass workers=1 "
    "(-o workers=1) to use no worker processes"
)


def params_key(params: dict[str, Any]) -> str:
    """A short stable hash of ``params`` (a JSON-able dict)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (readable as the umask allows)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or ``None`` if the file is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def file_entries(root: Path, paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Path relative to ``root`` and size of each of ``paths``, for a manifest."""
    return [
        {"path": str(Path(p).relative_to(root)), "bytes": Path(p).stat().st_size}
        for p in sorted(paths)
    ]


def write_done(folder: Path, paths: Iterable[Path]) -> None:
    """Mark ``folder`` complete: record the sizes of its ``paths`` (written last, atomically)."""
    write_json(Path(folder) / "done.json", file_entries(Path(folder), paths))


def done_ok(folder: Path) -> bool:
    """Whether subject ``folder`` was completed and its files are unchanged since."""
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


# ---------------------------------------------------------------------------
# Which folders are the course's own
# ---------------------------------------------------------------------------


def _legacy_ours(root: Path) -> bool:
    """A cache written before markers existed: our manifest (or synthetic params.json)."""
    manifest = read_json(root / MANIFEST)
    if isinstance(manifest, dict) and {"params", "created", "files"} <= set(manifest):
        return True
    params = read_json(root / "params.json")
    return isinstance(params, dict) and "generator" in params


def is_ours(root: Path) -> bool:
    """Whether ``root`` is a dataset folder this package created (so it may empty it)."""
    root = Path(root)
    return root.is_dir() and ((root / MARKER).is_file() or _legacy_ours(root))


def claim_folder(root: Path) -> None:
    """Make ``root`` a dataset folder of the course, or refuse: never take over a user's folder.

    A new or empty folder is created and marked, one already marked (or an older course
    cache) is accepted; a file or a folder holding anything else raises a DataError.
    """
    check_claimable(root)
    root = Path(root)
    with _writing(root):
        root.mkdir(parents=True, exist_ok=True)
        if not (root / MARKER).is_file():
            write_json(root / MARKER, {"created_by": "course_utils", "note": "this folder is a "
                                       "course_utils dataset cache; the package may empty it"})


def check_claimable(root: Path) -> None:
    """Raise a DataError naming ``root`` unless it is new, empty or a folder of the course."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} is a file, not a folder; choose a new or empty folder as "
                        "the destination (dest / --dest)", path=root)
    if root.is_dir() and not (root / MARKER).is_file():
        if not is_ours(root) and any(root.iterdir()):
            raise DataError(
                f"{root} already holds files that course_utils did not create, and it never "
                "deletes or overwrites those. Choose a new or empty folder as the destination "
                f"(dest / --dest), e.g. {root / 'course_data'}, or leave dest unset to use the "
                "cache under $COURSE_DATA_DIR", path=root)


def reset_folder(root: Path) -> None:
    """Empty ``root`` for a fresh build; only a folder of the course (see :func:`claim_folder`)."""
    root = Path(root)
    claim_folder(root)
    with _writing(root):
        for entry in root.iterdir():
            if entry.name == MARKER:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()


# ---------------------------------------------------------------------------
# Locks
# ---------------------------------------------------------------------------


def _read_only(exc: OSError) -> bool:
    return exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS)


def _read_only_error(folder: Path, exc: OSError) -> DataError:
    return DataError(
        f"cannot write to {folder} ({exc.strerror or exc}): the data folder is read-only or not "
        "yours. Point COURSE_DATA_DIR (or dest / --dest) at a folder you can write to, e.g. "
        "`export COURSE_DATA_DIR=$HOME/course-data`", path=folder)


@contextlib.contextmanager
def _writing(root: Path) -> Iterator[None]:
    """Turn a write refused by a read-only folder into a DataError naming the folder."""
    try:
        yield
    except OSError as exc:
        if _read_only(exc):
            raise _read_only_error(root if root.exists() else root.parent, exc) from None
        raise


def _lock_timeout() -> float:
    """Seconds to wait for a lock: ``$COURSE_LOCK_TIMEOUT``, else :data:`LOCK_TIMEOUT`."""
    text = os.environ.get("COURSE_LOCK_TIMEOUT")
    if text is None:
        return LOCK_TIMEOUT
    try:
        return checks.number(float(text), "COURSE_LOCK_TIMEOUT", minimum=0)
    except (ValueError, ConfigError):
        raise ConfigError(f"the environment variable COURSE_LOCK_TIMEOUT must be a number of "
                          f"seconds >= 0, got {text!r}", name="COURSE_LOCK_TIMEOUT") from None


def _holder(info_path: Path) -> str:
    info = read_json(info_path) or {}
    if not info:
        return "another process"
    return (f"process {info.get('pid')} on {info.get('host')} (`{info.get('command', '?')}`, "
            f"since {info.get('since', '?')})")


@contextlib.contextmanager
def folder_lock(root: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``.<root>.lock`` beside ``root`` so parallel runs build once.

    Parameters: ``root`` the folder to guard; ``timeout`` seconds to wait for another
    holder (default ``$COURSE_LOCK_TIMEOUT`` or one hour). Waiting prints who holds the
    ``filelock`` lock, which is freed if its holder dies. In a read-only folder (a shared
    copy) the block runs unlocked: reading needs no lock and writes are refused by name.
    """
    import filelock

    root = Path(root)
    lock = filelock.FileLock(str(root.parent / f".{root.name}.lock"))
    info_path = root.parent / f".{root.name}.lock.json"
    if not _acquire(lock, root, info_path, _lock_timeout() if timeout is None else timeout):
        yield  # a read-only folder: nothing can be written here by us, reading needs no lock
        return
    try:
        with contextlib.suppress(OSError):
            write_json(info_path, {"pid": os.getpid(), "host": socket.gethostname(),
                                   "command": " ".join(sys.argv)[:200] or "python",
                                   "since": time.strftime("%Y-%m-%d %H:%M:%S")})
        yield
    finally:
        info_path.unlink(missing_ok=True)
        lock.release()


def _acquire(lock: Any, root: Path, info_path: Path, limit: float) -> bool:
    """Take ``lock`` (saying who holds it while waiting); ``False`` if the folder is read-only."""
    import filelock

    try:
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            refuse_spawned_import()  # a worker re-importing a script: its parent holds the lock
            print(f"waiting for {_holder(info_path)}, which is preparing {root} (lock file "
                  f"{lock.lock_file}; giving up after {limit:g} s)", file=sys.stderr, flush=True)
            try:
                lock.acquire(timeout=limit)
            except filelock.Timeout:
                raise DataError(
                    f"{root} is still being prepared by {_holder(info_path)} after {limit:g} s. "
                    f"Wait for it to finish (or stop it) and run again; set COURSE_LOCK_TIMEOUT "
                    f"to wait longer. The lock is freed when its holder ends.",
                    path=lock.lock_file) from None
    except OSError as exc:
        if _read_only(exc) and root.parent.is_dir():
            return False
        if _read_only(exc):
            raise _read_only_error(root.parent, exc) from None
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            raise DataError(f"cannot create the folder {root.parent}: a file is in the way "
                            "(check dest / COURSE_DATA_DIR)", path=root.parent) from None
        raise
    return True


def build_once(root: Path, params: dict[str, Any], build: Callable[[], None]) -> None:
    """Run ``build()`` to fill ``root`` unless its manifest already matches ``params``.

    Parameters: ``root`` the dataset folder; ``params`` what its manifest must record;
    ``build`` writes the files and the manifest last. Under ``root``'s lock, in a folder
    of the course only (:func:`claim_folder`), after removing stale temporaries. A
    complete cache in a read-only folder (an instructor's shared copy) is used as is.
    """
    root = Path(root)
    complete = manifest_ok(root, params) is not None
    if complete and not os.access(root.parent, os.W_OK):
        return
    if not complete:
        check_claimable(root)  # before any lock file appears beside a folder of the user
    with folder_lock(root):
        if manifest_ok(root, params) is None:
            claim_folder(root)
            remove_partials(root, skip=MARKER)
            build()


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------


def refuse_spawned_import() -> None:
    """Raise if called while a worker process re-imports the user's script at top level.

    Spawned workers first import the main script as ``__mp_main__``; if it calls
    ``data.load()`` unguarded, the worker would wait forever on its parent's lock.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_globals.get("__name__") == "__mp_main__" and frame.f_code.co_name == "<module>":
            script = frame.f_globals.get("__file__", "your script")
            raise CourseError(f"{script} was imported again by a worker process and called "
                              f"course_utils.data at top level: {MAIN_GUARD}", path=script)
        frame = frame.f_back


def workers_option(value: Any) -> int | None:
    """The ``workers`` option ``value``: ``None`` (automatic) or a whole number >= 1."""
    return None if value is None else checks.integer(value, "workers", minimum=1, maximum=256)


def available_mb() -> float | None:
    """MB this process may still use: the least of free memory and the cgroup limit (or None)."""
    values = []
    with contextlib.suppress(ImportError, OSError):
        import psutil

        values.append(psutil.virtual_memory().available / 2**20)
    for limit, usage in (("memory.max", "memory.current"),  # cgroup v2, then v1
                         ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        with contextlib.suppress(OSError, ValueError):
            cap = Path("/sys/fs/cgroup", limit).read_text(encoding="ascii").strip()
            used = Path("/sys/fs/cgroup", usage).read_text(encoding="ascii").strip()
            if cap != "max" and int(cap) < 2**60:
                values.append((int(cap) - int(used)) / 2**20)
            break
    return min(values) if values else None


def n_workers(requested: int | None = None, worker_mb: float | None = None) -> int:
    """Worker processes to use: ``requested``, else the CPUs this process may run on (at most 8).

    Parameters: ``requested`` an explicit count (kept); ``worker_mb`` one worker's memory:
    the automatic count fits in free memory (binder: 2 GB), as a killed worker breaks the pool.
    """
    if requested is not None:
        return workers_option(requested)
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    count = max(1, min(8, cpus))
    free = available_mb() if worker_mb else None
    if free is not None:
        count = max(1, min(count, int(free // worker_mb)))
    return count


def _exit_with(parent: Any) -> None:
    parent.join()  # returns when the parent process has ended, however it ended
    os._exit(1)


def _init_worker(parent_pid: int) -> None:
    """In each worker: one ITK thread, and die with the parent (even after its ``kill -9``)."""
    import multiprocessing as mp
    import threading

    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    parent = mp.parent_process()
    if parent is not None:  # portable fallback (Windows, macOS): a watchdog thread
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _stop(pool: Any) -> None:
    """End the workers now and drop queued tasks (the next run removes their temporaries)."""
    if hasattr(pool, "terminate_workers"):  # Python >= 3.14
        pool.terminate_workers()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def _broken_pool_error(desc: str) -> CourseError:
    return CourseError(
        f"a worker process stopped abruptly ({desc or 'preparing data'}). If a script calls "
        f"course_utils.data.load() at top level: {MAIN_GUARD}. If the machine ran out of "
        "memory, use fewer workers (workers=1 / -o workers=1).")


def parallel_map(
    func: Callable[[Any], Any],
    items: Sequence[Any],
    *,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "",
    worker_mb: float | None = None,
) -> list[Any]:
    """``[func(item) for item in items]`` over worker processes, with a tqdm bar, in order.

    Parameters: ``func`` a module-level function; ``items`` its arguments; ``workers`` (default:
    :func:`n_workers` for ``worker_mb``; one for <= 3 items); ``progress`` a bar named ``desc``.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    from course_utils.environment import progress_bar

    refuse_spawned_import()
    workers = min(n_workers(workers, worker_mb), max(1, len(items)))
    if len(items) <= 3:  # starting processes costs more than it saves
        workers = 1
    results: list[Any] = [None] * len(items)
    with progress_bar(total=len(items), desc=desc, unit="subject", disable=not progress) as bar:
        if workers == 1:
            for i, item in enumerate(items):
                results[i] = func(item)
                bar.update()
            return results
        # spawn: safe after TensorFlow started threads, and the same on every OS
        try:
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                                     initializer=_init_worker,
                                     initargs=(os.getpid(),)) as pool:
                try:
                    futures = {pool.submit(func, item): i for i, item in enumerate(items)}
                    for future in as_completed(futures):
                        results[futures[future]] = future.result()
                        bar.update()
                except BaseException:  # Ctrl-C, or one subject failed: stop now
                    _stop(pool)
                    raise
        except BrokenProcessPool:
            raise _broken_pool_error(desc) from None
    return results


def check_option_names(options: dict[str, Any], valid: Sequence[str], dataset: str) -> None:
    """A ConfigError for the first of ``options`` not in ``valid`` (``dataset`` names it)."""
    for key in sorted(options):
        checks.option(key, list(valid), f"option of dataset {dataset!r}")
