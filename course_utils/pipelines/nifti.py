"""NIfTI files as streaming sees them: a typed layout record, patch reads, volume statistics."""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from course_utils import io
from course_utils.errors import DataError, ShapeError
from course_utils.pipelines._common import PathLike, check_patch, tf_module


@dataclass(frozen=True)
class NiftiLayout:
    """Where and how a NIfTI file stores its voxels, read once from its header.

    ``shape`` (z, y, x) in numpy order, ``dtype`` as stored (with byte order),
    ``offset`` of the first voxel byte, ``slope``/``inter`` scaling (1, 0 when the
    header has none), ``compressed`` for ``.nii.gz``.
    """

    path: str
    shape: tuple[int, int, int]
    dtype: np.dtype
    offset: int
    slope: float
    inter: float
    compressed: bool

    @property
    def nbytes(self) -> int:
        """Bytes of voxel data."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def scaled(self) -> bool:
        """True if the stored values must be scaled (``slope * v + inter``)."""
        return self.slope != 1.0 or self.inter != 0.0

    def same_grid(self, other: NiftiLayout) -> bool:
        """True if ``other`` stores the same shape, data type, scaling and compression."""
        return ((self.shape, self.dtype, self.slope, self.inter, self.compressed)
                == (other.shape, other.dtype, other.slope, other.inter, other.compressed))


def nifti_info(path: PathLike) -> NiftiLayout:
    """The :class:`NiftiLayout` of a NIfTI file, from ``io.nifti_header`` (the course's one
    header reader); a truncated file is a DataError now, not garbage later.

    Parameters: ``path`` a ``.nii`` or ``.nii.gz`` file.
    """
    header = io.nifti_header(path)
    io.check_complete(path, header)
    shape = tuple(int(s) for s in header["shape"])
    if len(shape) != 3:
        raise ShapeError(f"{path} holds a {len(shape)}D image {shape}; streaming expects 3D",
                         path=path)
    return NiftiLayout(str(path), shape, np.dtype(header["dtype"]), int(header["offset"]),
                       float(header["slope"]), float(header["inter"]),
                       bool(header["compressed"]))


def common_layout(paths: Sequence[PathLike], what: str) -> NiftiLayout:
    """The one layout shared by all ``paths`` (``what``: "image" or "label", for messages)."""
    layout = None
    for p in paths:
        info = nifti_info(p)
        if layout is None:
            layout = info
        elif not info.same_grid(layout):
            raise ShapeError(
                f"{what} {p} is {info.shape} {info.dtype} (z, y, x) but {layout.path} is "
                f"{layout.shape} {layout.dtype}; streaming needs one shape, data type, scaling "
                "and compression for all files: load the cohort with standardize=True", path=p)
    if layout is None:
        raise DataError(f"no {what} files given")
    return layout


_BUFFERS = threading.local()


def thread_buffer(nbytes: int) -> np.ndarray:
    """This thread's reused uint8 buffer of at least ``nbytes`` bytes (grown when needed): what
    :func:`inflate_into` fills; valid until this thread's next call.

    Parameters: ``nbytes`` bytes needed.
    """
    if getattr(_BUFFERS, "buffer", None) is None or _BUFFERS.buffer.size < nbytes:
        _BUFFERS.buffer = np.empty(int(nbytes), np.uint8)
    return _BUFFERS.buffer


def inflate_into(path: PathLike, buffer: np.ndarray, stop: int, piece: int = 1 << 16,
                 chunk: int = 1 << 16) -> None:
    """Inflate the first ``stop`` bytes of the gzip file ``path`` into ``buffer``, piece by
    piece: a reused buffer costs no fresh pages (faster than one ``zlib.decompress``), zlib's
    output comes in chunks of at most ``chunk`` bytes (no volume-sized temporary), and
    inflating stops at ``stop``. zlib releases the GIL, so threads inflate in parallel.

    Parameters: ``path`` a gzip file; ``buffer`` a uint8 array of at least ``stop`` bytes;
    ``stop`` bytes wanted; ``piece`` compressed bytes read at a time; ``chunk`` most bytes
    inflated at a time.
    """
    inflater, done = zlib.decompressobj(wbits=31), 0
    with open(path, "rb", buffering=0) as fh:
        while done < stop:
            data = inflater.unconsumed_tail or fh.read(piece)
            if not data:
                raise zlib.error(f"the stream holds {done} bytes, {stop} expected")
            out = inflater.decompress(data, min(stop - done, chunk))
            buffer[done:done + len(out)] = np.frombuffer(out, np.uint8)
            done += len(out)


def read_voxels(path: PathLike, info: NiftiLayout, buffer: np.ndarray | None = None,
                z_stop: int | None = None) -> np.ndarray:
    """All voxels of a NIfTI file as stored, ``[z, y, x]``. Without ``buffer``: a memory map of
    a ``.nii`` (only the bytes used are read) or a ``.nii.gz`` inflated into a new array. With
    ``buffer`` (reused: no fresh pages): the slices before ``z_stop`` read (``.nii``, one
    ``readinto``) or inflated (``.nii.gz``) into it; the rest of it is left as it was.

    Parameters: ``path`` the file; ``info`` its :func:`nifti_info`; ``buffer`` None or a uint8
    array of ``info.offset + info.nbytes`` bytes; ``z_stop`` slices needed (None: all).
    """
    try:
        slices = info.shape[0] if z_stop is None else int(z_stop)
        stop = info.offset + info.nbytes // info.shape[0] * slices
        if not info.compressed and buffer is None:
            return np.memmap(path, dtype=info.dtype, mode="r", offset=info.offset,
                             shape=info.shape)
        if not info.compressed:
            with open(path, "rb", buffering=0) as fh:
                fh.seek(info.offset)
                got = fh.readinto(memoryview(buffer)[info.offset:stop])
            if got != stop - info.offset:
                raise ValueError(f"{got} voxel bytes read, {stop - info.offset} expected")
        elif buffer is None:
            with open(path, "rb") as fh:
                buffer = np.frombuffer(zlib.decompress(fh.read(), wbits=31,
                                                       bufsize=info.offset + info.nbytes + 1),
                                       np.uint8)
        else:
            inflate_into(path, buffer, stop)
        return buffer[info.offset:info.offset + info.nbytes].view(info.dtype).reshape(info.shape)
    except (OSError, ValueError, zlib.error) as exc:
        raise DataError(f"could not read the voxels of {path} ({exc}): the file is missing, "
                        "damaged or changed after it was checked; regenerate it",
                        path=str(path)) from exc


def read_nifti_patch(path: PathLike, corner: Sequence[int], size: Sequence[int],
                     info: NiftiLayout | None = None, out: np.ndarray | None = None
                     ) -> np.ndarray:
    """Read only a ``size`` (z, y, x) patch at ``corner`` from an UNCOMPRESSED NIfTI file,
    through a numpy memory map at the header's data offset (scaling applied, float32).

    Parameters: ``path`` a ``.nii`` file; ``corner`` (z, y, x) of the patch's first voxel;
    ``size`` (z, y, x); ``info`` its :func:`nifti_info` (read from the header if None);
    ``out`` a float32 array of ``size`` to fill (one pass, no temporary), else a new one.
    """
    info = nifti_info(path) if info is None else info
    if info.compressed:
        raise DataError(f"{path} is gzip-compressed: a compressed file cannot be memory-mapped "
                        "(its bytes are not at fixed places); store the volumes as .nii",
                        path=path)
    size = check_patch(size, info.shape, str(path))
    out = np.empty(size, np.float32) if out is None else out
    z, y, x = (int(c) for c in corner)
    mm = read_voxels(path, info)
    try:
        out[...] = mm[z:z + size[0], y:y + size[1], x:x + size[2]]  # read and cast at once
    finally:
        del mm  # unmap: only the touched pages were ever read
    if info.scaled:
        out *= np.float32(info.slope)
        out += np.float32(info.inter)
    return out


def volume_stats(path: PathLike, info: NiftiLayout | None = None,
                 chunk_voxels: int = 1 << 22) -> tuple[float, float]:
    """Mean and standard deviation of a NIfTI volume, streamed in chunks (memory stays flat).

    Parameters: ``path`` a ``.nii``/``.nii.gz`` file; ``info`` its layout (None: read it);
    ``chunk_voxels`` voxels summed at a time (float64).
    """
    info = nifti_info(path) if info is None else info
    n = int(np.prod(info.shape))
    flat = read_voxels(path, info).reshape(-1)
    total = squares = 0.0
    for start in range(0, n, chunk_voxels):  # stored values; the scaling is applied after
        part = np.asarray(flat[start:start + chunk_voxels], dtype=np.float64)
        total += float(part.sum())
        squares += float(np.dot(part, part))
    del flat
    mean = total / n
    std = np.sqrt(max(squares / n - mean**2, 0.0))
    return float(info.slope * mean + info.inter), float(abs(info.slope) * std)


def whitening_affine(paths: Sequence[PathLike], layout: NiftiLayout,
                     whiten: bool = True) -> np.ndarray:
    """Per file ``(a, b)`` such that ``a * stored + b`` is the scaled value, whitened with the
    volume's own mean and standard deviation if ``whiten`` (:func:`volume_stats`, one pass per
    file, in threads): the statistics of a file never change, so streaming computes them once.

    Parameters: ``paths`` the files; ``layout`` their common layout; ``whiten`` or only scale.
    """
    n = len(paths)
    if not whiten:
        return np.tile(np.float32([layout.slope, layout.inter]), (n, 1))
    with ThreadPoolExecutor(max(1, min(n, os.cpu_count() or 1))) as pool:
        stats = np.array(list(pool.map(lambda p: volume_stats(p, layout), paths)))
    std = np.where(stats[:, 1] < 1e-8, 1.0, stats[:, 1])
    return np.stack([layout.slope / std, (layout.inter - stats[:, 0]) / std],
                    axis=1).astype(np.float32)


def whiten_tf(x, axis=(-4, -3, -2), eps: float = 1e-8):
    """Zero mean, unit variance per example and channel over the spatial axes, in TF ops
    (the in-graph twin of ``preprocessing.whiten``, so whitening runs inside tf.data).

    Parameters: ``x`` a float tensor; ``axis`` the axes of the statistics; ``eps`` a
    standard deviation below it only centres.
    """
    tf = tf_module()
    mean, var = tf.nn.moments(x, axes=list(axis), keepdims=True)
    std = tf.sqrt(var)
    return (x - mean) / tf.where(std < eps, tf.ones_like(std), std)
