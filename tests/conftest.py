"""Shared test settings and fixtures: keep TensorFlow quiet and tests on the CPU."""

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@contextlib.contextmanager
def _tmpfs(folder: Path, options: str):
    """Mount a real tmpfs on ``folder`` for the block; skip the test where that is not allowed."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs ({options}) here (needs root): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A real 512 KiB file system (tmpfs) where writes fail with ENOSPC."""
    with _tmpfs(tmp_path / "tiny_disk", "size=512k") as mount:
        yield mount


@pytest.fixture()
def freezable_dir(tmp_path: Path):
    """A folder and a function that makes it read-only: a tmpfs remounted read-only when
    running as root (chmod does not stop root), else chmod."""
    folder = tmp_path / "shared"
    if os.geteuid() != 0:
        folder.mkdir()
        yield folder, lambda: folder.chmod(0o555)
        folder.chmod(0o755)
        return
    with _tmpfs(folder, "size=16m"):
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)],
                                             check=True)
