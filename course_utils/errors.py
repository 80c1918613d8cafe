"""The single exception family of the course: every error a learner can cause."""

from __future__ import annotations


class CourseError(Exception):
    """Base class: something the learner can fix; the message says what to do."""


class ConfigError(CourseError, ValueError):
    """An unknown preset or parameter, or a parameter of the wrong kind."""


class DataError(CourseError):
    """A missing, corrupt or inconsistent data file (the message names it)."""


class DownloadError(DataError):
    """A download failed or did not verify; nothing partial is kept."""


class ShapeError(CourseError, ValueError):
    """Arrays or patches whose shapes do not fit together."""


class ModelError(CourseError):
    """A model, checkpoint or backend that does not fit the request."""
