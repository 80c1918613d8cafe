"""Atomic file writing: an interrupted run never leaves a half-written file that is later trusted.

Temporaries are named ``.<name>.<random>.partial[<suffix>]`` beside their target;
:func:`remove_partials` recognises that pattern (and only it) to clean up after a
run that was killed before it could remove its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from course_utils.errors import DataError, DiskFullError, is_disk_full

# the names atomic_path / atomic_dir give their temporaries, and nothing else
_PARTIAL = re.compile(r"^\..+\.[A-Za-z0-9_]+\.partial(\.[A-Za-z0-9]+)*$")


def _umask() -> int:
    """The process' umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def shared_mode(directory: bool = False) -> int:
    """The mode ``open()``/``mkdir()`` would give: 0666 (0777 for a folder) less the umask.

    ``tempfile`` creates private (0600/0700) temporaries; the final file gets the mode a
    plain write would have had, so an instructor's shared data folder stays readable.
    ``directory``: the mode for a folder instead of a file.
    """
    return (0o777 if directory else 0o666) & ~_umask()


def is_partial(name: str) -> bool:
    """Whether ``name`` is a temporary left by :func:`atomic_path` or :func:`atomic_dir`."""
    return bool(_PARTIAL.match(name))


def remove_partials(folder: str | os.PathLike, *, skip: str | None = None) -> list[Path]:
    """Delete the stale temporaries of this module under ``folder``; return what was removed.

    Parameters: ``folder`` the tree to clean (call only while holding its lock, so no
    running writer's temporary is taken); ``skip`` a file name marking sub-folders
    that are cleaned by their own owner (they are not entered).
    """
    removed: list[Path] = []
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        if skip and here != Path(folder) and (here / skip).exists():
            dirs[:] = []
            continue
        for name in [*dirs]:
            path = here / name
            if is_partial(name) and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                dirs.remove(name)
                removed.append(path)
        for name in files:
            path = here / name
            if is_partial(name) and path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def _disk_full(path: Path) -> DiskFullError:
    return DiskFullError(
        f"the disk is full while writing {path}; free some space "
        f"(or point COURSE_DATA_DIR at a larger disk) and run again", path=path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Parameters: ``path`` the final file; ``suffix`` the temporary's suffix (default: the
    file's own, ``.nii.gz`` stays ``.nii.gz``, so writers that infer the format from the
    name work unchanged). On any error the temporary is removed and the error
    propagates; a full disk becomes a :class:`DiskFullError` that names the file. The
    file gets the mode the umask allows (not ``tempfile``'s private 0600).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".gz") else path.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{suffix}",
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, shared_mode())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc):
            raise _disk_full(path) from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it becomes ``path`` only if the block succeeds.

    Parameters: ``path`` the final folder. It must not exist yet (or be empty): an
    existing folder with files in it is never replaced, whoever made it.
    """
    path = Path(path)
    if path.exists() and not (path.is_dir() and not any(path.iterdir())):
        raise DataError(f"{path} already exists and is not empty; it is never replaced. "
                        "Move it away (or choose another folder) and run again", path=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, shared_mode(directory=True))
        if path.exists():
            path.rmdir()  # empty (checked above): only rename onto it
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
