"""Shared test settings and fixtures: keep TensorFlow quiet and tests on the CPU."""

import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


@pytest.fixture()
def tiny_disk(tmp_path: Path):
    """A real 512 KiB file system (tmpfs) where writes fail with ENOSPC; skipped where it
    cannot be mounted (it needs root and a kernel that allows the mount)."""
    mount = tmp_path / "tiny_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)
