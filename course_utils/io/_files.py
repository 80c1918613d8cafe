"""Reading (image or header only), verifying and writing image files: the course's one I/O path.

ITK reads a truncated NIfTI file without complaint (the missing voxels come back as
garbage) and, on a full disk, prints an error while writing NIfTI but does not raise.
So every NIfTI file is checked against its header (read by nibabel) after writing
and before reading: it must hold all the bytes the header promises.
"""

from __future__ import annotations

import gzip
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from course_utils.errors import ConfigError, CorruptFileError, DataError, DiskFullError, ShapeError
from course_utils.files import atomic_path
from course_utils.io._constants import WRITE_EXTENSIONS, PathLike


def _regenerate_hint(path: Path) -> str:
    return (
        f"delete {path} and regenerate it (for the course's cohort: run the notebook's "
        "`data.load(...)` cell again, which rebuilds missing files), or check the path"
    )


def extension(path: PathLike) -> str:
    """The image extension of ``path`` in lower case: ``".nii.gz"``, ``".nii"``, ``".nrrd"``..."""
    name = Path(path).name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def is_nifti(path: PathLike) -> bool:
    """True if ``path`` is named like a NIfTI file (``.nii`` or ``.nii.gz``)."""
    return extension(path) in (".nii", ".nii.gz")


def _existing(path: PathLike) -> Path:
    """``path`` as a Path if it is a non-empty file, else DataError / CorruptFileError naming it."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image file: for a folder of DICOM slices "
                        "use io.read_dicom_series(folder), else name the file inside it",
                        path=path)
    if not path.is_file():
        raise DataError(f"image file not found: {path}; {_regenerate_hint(path)}", path=path)
    if path.stat().st_size == 0:
        raise CorruptFileError(f"image file {path} is empty (an interrupted write?); "
                               f"{_regenerate_hint(path)}", path=path)
    return path


# =============================================================================
# NIfTI headers: one reader (nibabel's)
# =============================================================================

def _nibabel_errors() -> tuple[type[BaseException], ...]:
    """What nibabel raises for a bad file (imported on first failure: nibabel loads slowly)."""
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    return OSError, EOFError, ValueError, zlib.error, ImageFileError, HeaderDataError


def nifti_header(path: PathLike) -> dict[str, Any]:
    """The layout of a NIfTI-1/2 file read from its header by nibabel (no voxels are read).

    Parameters: ``path``, a ``.nii`` or ``.nii.gz`` file. Returns ``shape`` (numpy order,
    z, y, x for a 3D image), ``dtype`` (numpy, with the file's byte order), ``offset`` (bytes
    before the voxels), ``data_bytes``, ``slope``/``inter`` (scaling; 1 and 0 when unset),
    ``compressed`` and ``byte_order`` (``"<"`` or ``">"``). CorruptFileError if unreadable.
    """
    import nibabel as nib

    path = _existing(path)
    if not is_nifti(path):
        raise ConfigError(f"{path} is not named like a NIfTI file (.nii or .nii.gz)",
                          name="path", path=path)
    _check_compression_matches_name(path)
    try:
        # the image's data proxy keeps the file's layout (img.header is reset for writing)
        proxy = nib.load(str(path)).dataobj
        shape, dtype = tuple(int(s) for s in proxy.shape), np.dtype(proxy.dtype)
        offset, slope, inter = int(proxy.offset), float(proxy.slope), float(proxy.inter)
    except _nibabel_errors() as exc:
        raise CorruptFileError(
            f"could not read the NIfTI header of {path}: it is corrupt, truncated or not NIfTI "
            f"({type(exc).__name__}: {str(exc)[:160]}); {_regenerate_hint(path)}", path=path
        ) from exc
    big = dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder == "big")
    return {
        "shape": shape[::-1], "dtype": dtype, "offset": offset,
        "data_bytes": int(np.prod(shape, dtype=np.int64)) * dtype.itemsize,
        "slope": slope if np.isfinite(slope) and slope != 0 else 1.0,
        "inter": inter if np.isfinite(inter) else 0.0,
        "compressed": path.name.lower().endswith(".gz"), "byte_order": ">" if big else "<",
    }


def _check_compression_matches_name(path: Path) -> None:
    """DataError if a ``.nii.gz`` file is not gzip-compressed, or a ``.nii`` file is."""
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    named_gz = path.name.lower().endswith(".gz")
    if gzipped != named_gz:
        fix = path.name[:-3] if named_gz else path.name + ".gz"
        raise DataError(
            f"{path} is named {extension(path)} but its content is "
            f"{'gzip-compressed' if gzipped else 'not compressed'}; rename it to {fix} (the "
            "file itself may be fine) so that every reader (nibabel, streaming) treats it right",
            path=path)


def nifti_layout(path: PathLike) -> tuple[int, int, str] | None:
    """``(offset, data_bytes, byte_order)`` of a NIfTI file (see :func:`nifti_header`); None if
    ``path`` is not named ``.nii``/``.nii.gz``. Parameters: ``path``, the file."""
    if not is_nifti(path):
        return None
    info = nifti_header(path)
    return info["offset"], info["data_bytes"], info["byte_order"]


def _stored_bytes(path: Path, expected: int) -> int:
    """Bytes a NIfTI file holds (decompressed for .nii.gz)."""
    if not path.name.lower().endswith(".gz"):
        return path.stat().st_size
    # Fast path: the gzip trailer's last 4 bytes hold the uncompressed size (mod 2**32);
    # a truncated file ends in arbitrary bytes, which match with odds of 1 in 4 billion.
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 4))
        trailer = fh.read(4)
    if len(trailer) == 4 and struct.unpack("<I", trailer)[0] == expected % 2**32:
        return expected
    have = 0  # slow path (padding or extensions after the data): decompress and count
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(1 << 22):
                have += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise CorruptFileError(f"image file {path} is truncated or corrupt ({exc}); "
                               f"{_regenerate_hint(path)}", path=path) from exc
    return have


def check_complete(path: PathLike, header: dict[str, Any] | None = None) -> None:
    """CorruptFileError unless a NIfTI file holds every byte its header promises.

    Parameters: ``path``, the file (other formats pass: ITK raises for those);
    ``header``, its :func:`nifti_header` if already read (saves reading it again).
    """
    path = Path(path)
    if not is_nifti(path):
        return
    info = nifti_header(path) if header is None else header
    expected = info["offset"] + info["data_bytes"]
    have = _stored_bytes(path, expected)
    if have < expected:
        raise CorruptFileError(
            f"image file {path} is truncated: {have} bytes where the header promises "
            f"{expected}; {_regenerate_hint(path)}", path=path
        )


# =============================================================================
# Reading
# =============================================================================


def read_image(path: PathLike, pixel_type: int = sitk.sitkUnknown,
               verify: bool = True) -> sitk.Image:
    """Read a NIfTI/NRRD/MHA/... file with SimpleITK; DataError naming the file if missing/corrupt.

    Parameters: ``path``, the file; ``pixel_type``, a ``sitk.sitkFloat32``-like type to
    convert to (default: the file's); ``verify``, first check a NIfTI file is complete
    (:func:`check_complete`), since ITK silently reads a truncated one.
    """
    path = _existing(path)
    if verify:
        check_complete(path)
    return _itk_read(path, "image file", lambda: sitk.ReadImage(str(path), pixel_type))


def _itk_read(path: Path, what: str, read: Callable[[], Any]) -> Any:
    """``read()``, with ITK's RuntimeError turned into an error that names ``path``."""
    try:
        return read()
    except RuntimeError as exc:
        _refuse_sheared(path, exc)
        raise CorruptFileError(
            f"could not read {what} {path}: it is corrupt, truncated or not an image "
            f"({_itk_detail(exc)}); {_regenerate_hint(path)}", path=path
        ) from exc


def _refuse_sheared(path: Path, exc: BaseException) -> None:
    """DataError if ITK failed on a NIfTI file whose affine is not a rotation times scaling."""
    if not is_nifti(path):
        return
    import nibabel as nib

    try:
        affine = np.asarray(nib.load(str(path)).affine, dtype=float)
    except _nibabel_errors():
        return  # the caller reports a corrupt file
    columns = affine[:3, :3] / np.maximum(np.linalg.norm(affine[:3, :3], axis=0), 1e-12)
    if not np.allclose(columns.T @ columns, np.eye(3), atol=1e-4):
        raise DataError(
            f"{path} has a sheared (non-orthogonal) voxel-to-world affine, which ITK cannot "
            f"represent ({_itk_detail(exc)}): resample it onto an orthogonal grid first, e.g. "
            "nilearn.image.resample_img(img, target_affine=np.diag(img.header.get_zooms()[:3])), "
            "or fix the file's sform/qform", path=path) from exc


def read_header(path: PathLike) -> sitk.ImageFileReader:
    """The header of an image file, without its voxels: a reader with ``GetSize()``,
    ``GetSpacing()``, ``GetOrigin()``, ``GetDirection()``, ``GetPixelID()``...

    Parameters: ``path``, the file. DataError naming it if missing or unreadable.
    """
    path = _existing(path)
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    _itk_read(path, "the header of", reader.ReadImageInformation)
    return reader


def _itk_detail(exc: BaseException) -> str:
    """The informative line of an ITK error, for a message (never for control flow)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return next((line for line in lines if "ERROR" in line), lines[-1] if lines else "")[:200]


# =============================================================================
# Writing: atomic and verified
# =============================================================================


def write_image(image: sitk.Image, path: PathLike, compress: bool | None = None) -> Path:
    """Write ``image`` atomically and verified: to a temporary name, checked, then renamed.

    Parameters: ``image``, a SimpleITK image; ``path``, the target (``.nii.gz``, ``.nii``,
    ``.nrrd`` or ``.mha``); ``compress``, default True for ``.nii.gz`` only. A previous
    file at ``path`` survives any failure; a full disk raises DiskFullError.
    """
    path = Path(path)
    if extension(path) not in WRITE_EXTENSIONS:
        raise ConfigError(
            f"cannot write {path}: {extension(path) or 'no extension'!r} is not an image format "
            f"the course writes; name the file with one of {', '.join(WRITE_EXTENSIONS)}",
            name="path", path=path,
        )
    if compress is None:
        compress = extension(path) == ".nii.gz"
    with atomic_path(path) as tmp:
        try:
            sitk.WriteImage(image, str(tmp), useCompression=bool(compress))
            _verify_written(image, tmp)
        except (RuntimeError, DataError) as exc:
            raise _write_error(image, path, tmp, exc) from exc
    return path


def _verify_written(image: sitk.Image, tmp: Path) -> None:
    """CorruptFileError unless ``tmp`` holds the whole of ``image`` (header read back, sizes)."""
    check_complete(tmp)
    written = read_header(tmp)
    if written.GetSize() != image.GetSize():
        raise CorruptFileError(f"the file written holds size {written.GetSize()}, not "
                               f"{image.GetSize()}", path=tmp)


def _write_error(image: sitk.Image, path: Path, tmp: Path, exc: BaseException) -> DataError:
    """DiskFullError when the disk has no room left for the image, else DataError naming it."""
    data_bytes = (int(np.prod(image.GetSize(), dtype=np.int64))
                  * image.GetNumberOfComponentsPerPixel() * image.GetSizeOfPixelComponent())
    free = shutil.disk_usage(tmp.parent).free
    if free < max(data_bytes, 1 << 20):
        return DiskFullError(
            f"the disk is full while writing {path} ({free / 2**20:.1f} MiB free, the image "
            f"needs up to {data_bytes / 2**20:.1f} MiB); nothing was written (any previous "
            "file is kept): free some space, or point COURSE_DATA_DIR at a larger disk, "
            "and run again", path=path)
    return DataError(f"could not write {path} ({_itk_detail(exc)}); check the folder is "
                     "writable; nothing was written (any previous file is kept)", path=path)


def write_like(array: np.ndarray, reference: sitk.Image, path: PathLike) -> Path:
    """Write a z,y,x(,C) array as an image on ``reference``'s grid (spacing, origin, direction).

    Parameters: ``array``, the voxels (bool -> uint8, float64 -> float32); ``reference``,
    the image whose header is copied; ``path``, the target file (see :func:`write_image`).
    """
    array = np.asarray(array)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    expected = tuple(reversed(reference.GetSize()))
    if array.shape[:3] != expected or array.ndim not in (3, 4):
        raise ShapeError(
            f"write_like: array of shape {array.shape} does not fit the reference grid; expected "
            f"{expected} (z, y, x, the reverse of GetSize() {reference.GetSize()}) "
            "optionally followed by a channel axis", path=path
        )
    image = sitk.GetImageFromArray(array, isVector=array.ndim == 4)
    image.CopyInformation(reference)
    return write_image(image, path)
