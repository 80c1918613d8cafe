"""Atomic writes: nothing half-written survives an error."""

import os
import stat

import pytest

from course_utils.errors import DataError, DiskFullError, is_disk_full
from course_utils.files import atomic_dir, atomic_path, remove_partials


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
    with pytest.raises(DiskFullError, match=r"disk is full while writing .*big\.bin") as info:
        with atomic_path(target):
            with open("/dev/full", "wb") as full:  # a real device that is always full
                full.write(b"x" * 4096)
                full.flush()
    assert list(tmp_path.iterdir()) == []
    # decided by type and field, not by message text
    assert isinstance(info.value, DataError) and is_disk_full(info.value)
    assert info.value.path == str(target)


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


def test_atomic_dir_never_replaces_a_folder_with_files(tmp_path):
    """atomic_dir used to rmtree whatever was at its destination."""
    target = tmp_path / "raw"
    target.mkdir()
    (target / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(DataError, match=r"raw already exists and is not empty") as info:
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("a", encoding="utf-8")
    assert info.value.path == str(target)
    assert [p.name for p in tmp_path.iterdir()] == ["raw"]
    assert (target / "mine.txt").read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_get_the_mode_the_umask_allows(tmp_path, umask):
    """mkstemp/mkdtemp make private temporaries (0600/0700): a shared data folder was unreadable."""
    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "metrics.json") as tmp:
            tmp.write_text("{}", encoding="utf-8")
        with atomic_dir(tmp_path / "raw") as tmp:
            (tmp / "a.txt").write_text("a", encoding="utf-8")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "raw").stat().st_mode) == 0o777 & ~umask


def test_remove_partials_takes_only_the_courses_temporaries(tmp_path):
    stale_file = tmp_path / "SYN0001" / ".T1.k3j_x9q1.partial.nii.gz"
    stale_dir = tmp_path / ".t1.ab12cd34.partial"
    theirs = [tmp_path / "notes.partial.txt", tmp_path / ".bashrc", tmp_path / "SYN0001" / "T1.nii.gz",
              tmp_path / "partial", tmp_path / ".partial"]
    for path in [stale_file, *theirs]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "IXI002-HH-0828-T1.nii.gz").write_bytes(b"half")
    removed = remove_partials(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert not stale_file.exists() and not stale_dir.exists()
    assert all(p.exists() for p in theirs)
