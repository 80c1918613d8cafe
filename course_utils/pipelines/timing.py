"""Timing pipelines against physical floors (lesson 02): what reading alone costs.

A pipeline's time means little alone. The floors here do the same work with the
fewest, largest numpy/zlib operations, in this process, so every ratio is against a
reference measured on the same machine at the same moment: ``read_floor`` (read the
voxel bytes, cast to float32, whiten), ``gunzip_floor`` (inflate whole .nii.gz files,
nothing else) and ``patch_floor`` (read patches through a memory map, normalise).
"""

from __future__ import annotations

import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from course_utils.pipelines._common import PathLike, patch_corners, tf_module
from course_utils.pipelines.nifti import (
    inflate_into,
    nifti_info,
    read_nifti_patch,
    thread_buffer,
)


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU seconds (all threads of this process) of one measured run."""

    wall: float
    cpu: float


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(work: Callable[[], object]) -> Timing:
    """Run ``work()`` once and return its :class:`Timing`. Parameters: ``work`` no arguments."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    work()
    return Timing(time.perf_counter() - wall, _cpu_seconds() - cpu)


def batches(dataset) -> Iterator[object]:
    """Iterate ``dataset``; a TensorFlow error caused by a course pipeline's files or Python
    steps is re-raised as the course's error (DataError naming the file, ...).

    Parameters: ``dataset`` any ``tf.data.Dataset`` (course pipelines carry a guard).
    """
    tf = tf_module()
    guard = getattr(dataset, "course_guard", None)
    it = iter(dataset)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except tf.errors.OpError as exc:
            cause = guard.explain() if guard is not None else None
            if cause is None:
                raise
            raise cause from exc
        yield batch


def time_run(dataset, n_batches: int, warmup: int = 2) -> Timing:
    """Timing of ``n_batches`` batches of a fresh iterator, after ``warmup`` batches.

    Parameters: ``dataset`` a (repeating) tf.data dataset; ``n_batches`` timed batches;
    ``warmup`` batches drawn first (graph building, buffers filling).
    """
    it = batches(dataset)
    for _ in range(int(warmup)):
        next(it)
    def draw() -> None:
        for _ in range(int(n_batches)):  # each batch dropped at once, as a training loop does:
            next(it)  # holding them all would make pooled pipelines allocate a buffer per batch
    timing = measure(draw)
    it.close()
    return timing


def time_batches(dataset, n_batches: int, repeats: int = 3, warmup: int = 2) -> float:
    """Median wall seconds of ``n_batches`` batches over ``repeats`` fresh runs.

    Parameters: ``dataset``; ``n_batches`` per run; ``repeats`` runs; ``warmup`` batches.
    """
    return statistics.median(time_run(dataset, n_batches, warmup).wall
                             for _ in range(int(repeats)))


def time_per_batch(dataset, n_batches: int, warmup: int = 1) -> float:
    """Seconds per batch of iterating ``dataset`` (after ``warmup`` batches), a quick gauge.

    Parameters: ``dataset``; ``n_batches`` timed batches; ``warmup`` batches first.
    """
    return time_run(dataset, n_batches, warmup).wall / max(1, int(n_batches))


def resident_mb() -> float:
    """This process's resident memory now, in MB (Linux ``/proc``; 0 where it is unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def memory_growth(work: Callable[[], object], every: float = 0.002) -> float:
    """MB by which this process's resident memory rose above its level before ``work()``, at
    its highest while ``work()`` ran (sampled every ``every`` seconds in a thread).

    Parameters: ``work`` a function of no arguments (e.g. build a pipeline and draw batches);
    ``every`` seconds between samples.
    """
    baseline = resident_mb()
    highest, done = [baseline], threading.Event()

    def sample() -> None:
        while not done.is_set():
            highest[0] = max(highest[0], resident_mb())
            done.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    return max(highest[0], resident_mb()) - baseline


def _parallel(work: Callable, items: Sequence, workers: int) -> Timing:
    if workers <= 1:
        return measure(lambda: [work(i) for i in items])
    with ThreadPoolExecutor(workers) as pool:
        return measure(lambda: list(pool.map(work, items)))


def read_floor(paths: Sequence[PathLike], n_volumes: int, workers: int = 1) -> Timing:
    """Numpy's floor for whole volumes: ``np.fromfile`` the voxels of ``n_volumes`` files
    (cycling through ``paths``, uncompressed .nii), cast to float32, whiten. Each volume is
    dropped once whitened, as a training loop drops each batch (:func:`time_run`), so the
    floor holds a few volumes, not ``n_volumes``.

    Parameters: ``paths`` .nii files; ``n_volumes`` volumes read; ``workers`` threads.
    """
    layouts = [nifti_info(p) for p in paths]

    def one(k: int) -> None:
        info = layouts[k % len(layouts)]
        v = np.fromfile(info.path, info.dtype, int(np.prod(info.shape)), offset=info.offset)
        v = v.astype(np.float32)
        v -= v.mean()
        v /= max(float(v.std()), 1e-8)
    return _parallel(one, range(int(n_volumes)), workers)


def gunzip_floor(paths: Sequence[PathLike], n_volumes: int, workers: int = 1) -> Timing:
    """zlib's floor for .nii.gz: read and inflate ``n_volumes`` whole files (cycling through
    ``paths``) into a reused buffer per thread (:func:`inflate_into`, the fastest way here),
    nothing else. Parameters: ``paths``; ``n_volumes``; ``workers`` threads."""
    layouts = [nifti_info(p) for p in paths]

    def one(k: int) -> None:
        info = layouts[k % len(layouts)]
        inflate_into(info.path, thread_buffer(info.offset + info.nbytes), info.offset + info.nbytes)
    return _parallel(one, range(int(n_volumes)), workers)


def patch_floor(paths: Sequence[PathLike], size: Sequence[int], n_patches: int,
                workers: int = 1, seed: int = 0) -> Timing:
    """Numpy's floor for patches: ``n_patches`` random ``size`` patches read through a memory
    map (:func:`read_nifti_patch`) into a reused array per thread (no fresh pages) and
    normalised with a fixed mean and standard deviation.

    Parameters: ``paths`` .nii files; ``size`` (z, y, x); ``n_patches``; ``workers``; ``seed``.
    """
    layouts = [nifti_info(p) for p in paths]
    corners = patch_corners(layouts[0].shape, size, int(n_patches), np.random.default_rng(seed))
    nbytes = int(np.prod(size)) * 4

    def one(k: int) -> np.ndarray:
        info = layouts[k % len(layouts)]
        out = thread_buffer(nbytes)[:nbytes].view(np.float32).reshape(tuple(size))
        x = read_nifti_patch(info.path, corners[k], size, info, out=out)
        x -= np.float32(600.0)
        x *= np.float32(0.01)
        return x
    return _parallel(one, range(int(n_patches)), workers)
