"""The single exception family of the course: every error a learner can cause.

Errors carry data, not only text: the offending ``path`` (or parameter ``name``)
is an attribute, so code decides by type and field, never by reading a message
(as nilearn's ``exceptions.py`` does). Every message still names the file or
knob and says what to do.
"""

from __future__ import annotations

import os


class CourseError(Exception):
    """Base class: something the learner can fix; the message says what to do.

    ``path``: the file or folder concerned, if any (kept as ``exc.path``).
    """

    def __init__(self, message: str = "", *, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


class ConfigError(CourseError, ValueError):
    """An unknown preset or parameter, or a parameter of the wrong kind or range.

    ``message`` says what to do; ``name``, the parameter; ``path``, the file, if any.
    """

    def __init__(self, message: str = "", *, name: str | None = None,
                 path: str | os.PathLike | None = None) -> None:
        super().__init__(message, path=path)
        self.name = name


class DataError(CourseError):
    """A missing, corrupt or inconsistent data file (the message names it)."""


class CorruptFileError(DataError):
    """A file that exists but cannot be read in full (truncated, corrupt, wrong format)."""


class DiskFullError(DataError, OSError):
    """The disk filled up while writing ``path``; nothing half-written was kept."""


class DownloadError(DataError):
    """A download failed or did not verify; nothing partial is kept."""


class ShapeError(CourseError, ValueError):
    """Arrays or patches whose shapes do not fit together."""


class ModelError(CourseError):
    """A model, checkpoint or backend that does not fit the request."""


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` (or the error it was raised from) says the disk is full (ENOSPC)."""
    import errno

    while exc is not None:
        if isinstance(exc, DiskFullError):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__
    return False
