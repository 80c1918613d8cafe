"""Atomic writes: nothing half-written survives an error."""

import pytest

from course_utils.errors import DataError
from course_utils.files import atomic_dir, atomic_path


def test_atomic_path_renames_on_success_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "sub" / "image.nii.gz"
    with atomic_path(target) as tmp:
        assert tmp.name.endswith(".nii.gz") and tmp.parent == target.parent
        tmp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half", encoding="utf-8")
            raise RuntimeError("interrupted")
    assert target.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_a_full_disk_becomes_a_data_error_naming_the_file(tmp_path):
    target = tmp_path / "big.bin"
    with pytest.raises(DataError, match=r"disk is full while writing .*big\.bin"):
        with atomic_path(target):
            with open("/dev/full", "wb") as full:  # a real device that is always full
                full.write(b"x" * 4096)
                full.flush()
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir(tmp_path):
    target = tmp_path / "cohort"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("a", encoding="utf-8")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("a", encoding="utf-8")
    assert (target / "a.txt").read_text(encoding="utf-8") == "a"
