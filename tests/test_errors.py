"""course_utils.errors: errors carry the offending path and name; disk-full is one test."""

import errno

from course_utils.errors import (
    ConfigError,
    CorruptFileError,
    CourseError,
    DataError,
    DiskFullError,
    is_disk_full,
)


def test_errors_carry_their_path_and_name(tmp_path):
    err = CorruptFileError(f"{tmp_path / 'a.nii'} is truncated", path=tmp_path / "a.nii")
    assert isinstance(err, DataError) and isinstance(err, CourseError)
    assert err.path == str(tmp_path / "a.nii")
    cfg = ConfigError("epochs must be a whole number", name="epochs")
    assert cfg.name == "epochs" and cfg.path is None and isinstance(cfg, ValueError)


def test_is_disk_full_by_type_and_errno_not_by_text():
    assert is_disk_full(DiskFullError("full", path="/x"))
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(OSError(errno.EACCES, "no space in this message matters"))
    assert not is_disk_full(DataError("the disk has no space"))
    try:  # found through the chain of causes
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise DataError("write failed") from exc
    except DataError as wrapped:
        assert is_disk_full(wrapped)
