"""course_utils.io against independent references: SimpleITK's own transforms, nibabel's affine."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from course_utils import io
from course_utils.errors import ConfigError, CorruptFileError, DataError, DiskFullError, ShapeError


def _image(shape_zyx=(7, 9, 11), spacing=(0.9, 1.7, 3.2), origin=(12.5, -40.0, 3.0),
           direction=None, seed=0, dtype=np.float32) -> sitk.Image:
    rng = np.random.default_rng(seed)
    img = sitk.GetImageFromArray((rng.random(shape_zyx) * 100 - 20).astype(dtype))
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection([float(v) for v in np.asarray(direction).ravel()])
    return img


def _oblique() -> np.ndarray:
    return np.asarray(sitk.VersorTransform((0.3, -0.5, 0.8), 0.7).GetMatrix()).reshape(3, 3)


# Direction matrices: identity, oblique rotation, flipped (RAS-like), permuted + flipped
DIRECTIONS = {
    "identity": np.eye(3),
    "oblique": _oblique(),
    "ras": np.diag([-1.0, -1.0, 1.0]),
    "permuted": np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=float),
}


# --------------------------------------------------------------------------- reading
def test_read_image_missing_names_file(tmp_path):
    path = tmp_path / "nothere.nii.gz"
    with pytest.raises(DataError, match="nothere.nii.gz.*regenerate"):
        io.read_image(path)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_read_image_truncated_is_a_data_error(tmp_path, suffix):
    path = tmp_path / f"t{suffix}"
    sitk.WriteImage(_image((20, 20, 20)), str(path))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=f"t{suffix}.*truncated"):
        io.read_image(path)


def test_read_image_corrupt_and_empty(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not an image" * 50)
    with pytest.raises(DataError, match="bad.nii.gz"):
        io.read_image(bad)
    empty = tmp_path / "empty.nii"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.nii.*empty"):
        io.read_image(empty)


def test_read_image_roundtrip_values(tmp_path):
    img = _image(direction=DIRECTIONS["oblique"])
    path = io.write_image(img, tmp_path / "a.nii.gz")
    back = io.read_image(path)
    assert io.same_geometry(img, back)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(img))
    assert not list(tmp_path.glob("*partial*"))


# --------------------------------------------------------------------------- voxel <-> world
@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_voxel_to_world_matches_simpleitk(name):
    img = _image(direction=DIRECTIONS[name])
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 7, size=(20, 3))
    ours = io.voxel_to_world(idx, img)
    ref = [img.TransformIndexToPhysicalPoint([int(v) for v in i]) for i in idx]
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    frac = rng.uniform(-1, 8, size=(10, 3))
    ref = [img.TransformContinuousIndexToPhysicalPoint(list(map(float, i))) for i in frac]
    np.testing.assert_allclose(io.voxel_to_world(frac, img), ref, atol=1e-9)
    # a single index works too and keeps its shape
    assert io.voxel_to_world([1, 2, 3], img).shape == (3,)


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_world_to_voxel_matches_simpleitk(name):
    img = _image(direction=DIRECTIONS[name])
    rng = np.random.default_rng(2)
    points = io.voxel_to_world(rng.uniform(-0.4, 6.4, size=(25, 3)), img)
    cont = [img.TransformPhysicalPointToContinuousIndex(list(map(float, p))) for p in points]
    np.testing.assert_allclose(io.world_to_voxel(points, img), cont, atol=1e-9)
    nearest = [img.TransformPhysicalPointToIndex(list(map(float, p))) for p in points]
    np.testing.assert_array_equal(io.world_to_voxel(points, img, rounded=True), nearest)


def test_voxel_world_shape_errors():
    img = _image()
    with pytest.raises(ShapeError, match="x, y, z"):
        io.voxel_to_world(np.zeros((4, 2)), img)
    with pytest.raises(ShapeError):
        io.world_to_voxel(np.zeros(4), img)


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_affine_matches_nibabel_ras(tmp_path, name):
    img = _image(direction=DIRECTIONS[name])
    path = tmp_path / "img.nii"
    sitk.WriteImage(img, str(path))
    nii = nib.load(str(path))
    img = io.read_image(path)  # what the file holds (float32 header precision)
    np.testing.assert_allclose(io.affine_ras(img), nii.affine, atol=1e-4)
    idx = np.array([[0, 0, 0], [3, 5, 2], [10, 8, 6]])
    ras = nib.affines.apply_affine(nii.affine, idx)
    lps = io.voxel_to_world(idx, img)
    np.testing.assert_allclose(io.lps_to_ras(lps), ras, atol=1e-3)
    np.testing.assert_allclose(io.ras_to_lps(ras), lps, atol=1e-3)
    # only x and y change sign
    np.testing.assert_allclose(lps[:, 2], ras[:, 2], atol=1e-3)
    # nibabel's own orientation codes agree with SimpleITK's DICOM orient codes
    assert "".join(nib.aff2axcodes(nii.affine)) == io.orientation_code(img)


def test_orientation_codes():
    assert io.orientation_code(_image()) == "LPS"
    assert io.orientation_code(_image(direction=DIRECTIONS["ras"])) == "RAS"
    # columns are the axis directions: x -> +y (P), y -> -z (I), z -> -x (R)
    assert io.orientation_code(DIRECTIONS["permuted"].ravel()) == "PIR"


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_reorient_keeps_world_positions(name):
    img = _image(direction=DIRECTIONS[name])
    out = io.reorient(img, "LPS")
    assert io.orientation_code(out) == "LPS"
    if name != "oblique":
        np.testing.assert_allclose(np.asarray(out.GetDirection()).reshape(3, 3), np.eye(3),
                                   atol=1e-12)
    # every voxel keeps its value at the same physical point
    arr_in, arr_out = sitk.GetArrayFromImage(img), sitk.GetArrayFromImage(out)
    rng = np.random.default_rng(3)
    size = np.array(img.GetSize())
    for idx in rng.integers(0, size, size=(15, 3)):
        point = io.voxel_to_world(idx, img)
        j = io.world_to_voxel(point, out, rounded=True)
        assert arr_out[j[2], j[1], j[0]] == arr_in[idx[2], idx[1], idx[0]]


# --------------------------------------------------------------------------- headers
def test_header_and_table(tmp_path):
    paths = {}
    for name, direction in DIRECTIONS.items():
        paths[name] = io.write_image(_image(direction=direction), tmp_path / f"{name}.nii.gz")
    table = io.header_table(paths)
    assert list(table.index) == list(DIRECTIONS)
    assert {"size", "dtype", "spacing", "origin", "direction", "orientation"} <= set(table.columns)
    assert table.loc["ras", "orientation"] == "RAS"
    assert table.loc["identity", "size"] == (11, 9, 7)
    assert table.loc["identity", "spacing"] == pytest.approx((0.9, 1.7, 3.2), abs=1e-4)
    assert table.loc["identity", "dtype"] == "32-bit float"
    with pytest.raises(DataError, match="gone.nii"):
        io.header(tmp_path / "gone.nii")


# --------------------------------------------------------------------------- DICOM
def test_dicom_series_roundtrip_keeps_geometry(tmp_path):
    img = _image((6, 8, 10), spacing=(0.8, 1.1, 2.5), direction=DIRECTIONS["oblique"])
    files = io.write_dicom_series(img, tmp_path / "dcm")
    assert len(files) == 6 and all(f.is_file() for f in files)
    back = io.read_dicom_series(tmp_path / "dcm")
    assert back.GetSize() == img.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), img.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-5)
    # values survive up to the int16 quantisation (slope = largest magnitude / 30000)
    arr = sitk.GetArrayFromImage(img)
    step = np.abs(arr).max() / 30000
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), arr, atol=step)
    with pytest.raises(DataError, match="no DICOM series"):
        io.read_dicom_series(tmp_path)


def _dicom_tags(path) -> dict[str, str]:
    """Every tag of one DICOM file, as SimpleITK reads it (values stripped)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return {key: reader.GetMetaData(key).strip() for key in reader.GetMetaDataKeys()}


def _numbers(value: str) -> list[float]:
    return [float(v) for v in value.split("\\")]


def test_every_dicom_slice_carries_its_geometry_and_the_series_uids(tmp_path):
    # the taught code of notebook 01: each file says where it lies and what it belongs to
    img = _image((5, 8, 10), spacing=(0.8, 1.1, 2.5), direction=DIRECTIONS["oblique"],
                 dtype=np.int16)
    shared = io._dicom.series_tags("1.2.3", 4, "T1", "sub-001")
    files = io._dicom.write_slices(img, tmp_path, shared)
    assert [f.name for f in files] == [f"slice_{k:04d}.dcm" for k in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f.name for f in files]  # no leftovers
    direction = np.reshape(img.GetDirection(), (3, 3))
    sops = set()
    for k, path in enumerate(files):
        tag = _dicom_tags(path).__getitem__
        np.testing.assert_allclose(_numbers(tag("0020|0032")),
                                   img.TransformIndexToPhysicalPoint((0, 0, k)), atol=1e-5)
        np.testing.assert_allclose(_numbers(tag("0020|0037")),
                                   np.r_[direction[:, 0], direction[:, 1]], atol=1e-5)
        np.testing.assert_allclose(_numbers(tag("0028|0030")), (1.1, 0.8))  # rows (y), then columns (x)
        assert _numbers(tag("0018|0050")) == [2.5] and tag("0020|0013") == str(k + 1)
        assert (tag("0020|000d"), tag("0020|000e"), tag("0008|103e")) == ("1.2.3", "1.2.3.4", "T1")
        sops.add(tag("0008|0018"))
    assert len(sops) == 5  # one SOP Instance UID per file


def test_dicom_reader_orders_slices_by_position_not_by_file_name(tmp_path):
    img = _image((6, 5, 4), spacing=(1.0, 1.0, 3.0), direction=DIRECTIONS["permuted"])
    files = io.write_dicom_series(img, tmp_path / "dcm")
    for k, path in enumerate(files):  # reverse the names: slice 0 is now the last file
        path.rename(path.with_name(f"renamed_{len(files) - 1 - k:04d}.dcm"))
    back = io.read_dicom_series(tmp_path / "dcm")
    np.testing.assert_allclose(back.GetOrigin(), img.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(back.GetDirection(), img.GetDirection(), atol=1e-5)
    arr = sitk.GetArrayFromImage(img)
    np.testing.assert_allclose(sitk.GetArrayFromImage(back), arr, atol=np.abs(arr).max() / 30000)


def test_a_left_handed_volume_comes_back_right_handed_with_every_voxel_in_place(tmp_path):
    # DICOM grids are right-handed (slice normal = row x column): a PIL-like NIfTI grid
    # (determinant -1) returns with its slices reversed, each voxel at its world position
    left = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], dtype=float)
    assert np.linalg.det(left) < 0
    img = _image((6, 5, 4), spacing=(1.0, 2.0, 3.0), direction=left)
    io.write_dicom_series(img, tmp_path / "dcm")
    back = io.read_dicom_series(tmp_path / "dcm")
    assert np.linalg.det(np.reshape(back.GetDirection(), (3, 3))) == pytest.approx(1.0)
    a, b = (io.reorient(x, "LPS") for x in (img, back))
    assert io.same_geometry(a, b)
    arr = sitk.GetArrayFromImage(a)
    np.testing.assert_allclose(sitk.GetArrayFromImage(b), arr, atol=np.abs(arr).max() / 30000)
    index = (3, 2, 1)  # one voxel (x, y, z), followed through the world
    point = img.TransformIndexToPhysicalPoint(index)
    assert back.GetPixel(back.TransformPhysicalPointToIndex(point)) == pytest.approx(
        img.GetPixel(index), abs=float(np.abs(arr).max()) / 30000)


def test_dicom_numbers_are_short_decimal_strings():
    assert io._dicom.dicom_numbers((1.0, -0.5, 1e-9, 123.4567891, 0.0)) == "1\\-0.5\\0\\123.456789\\0"


# --------------------------------------------------------------------------- subjects
def _subject(tmp_path, shift_label=False):
    row = {"subject_id": "sub-001"}
    for k, seq in enumerate(io.SEQUENCES):
        row[seq] = str(io.write_image(_image(seed=k), tmp_path / f"{seq}.nii.gz"))
    lab = sitk.GetImageFromArray((np.arange(7 * 9 * 11).reshape(7, 9, 11) % 5).astype(np.uint8))
    lab.CopyInformation(_image())
    if shift_label:
        lab.SetOrigin((0.0, 0.0, 0.0))
    row["label"] = str(io.write_image(lab, tmp_path / "label.nii.gz"))
    return row


def test_read_subject_shapes_and_values(tmp_path):
    row = _subject(tmp_path)
    image, label = io.read_subject(row)
    assert image.shape == (7, 9, 11, 3) and image.dtype == np.float32
    assert label.shape == (7, 9, 11) and label.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 1],
                                  sitk.GetArrayFromImage(sitk.ReadImage(row["t1_ir"])))
    image, label = io.read_subject(row, sequences=["t2_flair"], with_label=False)
    assert image.shape == (7, 9, 11, 1) and label is None
    row["label"] = None  # IXI has no labels
    assert io.read_subject(row)[1] is None


def test_read_subject_geometry_mismatch_names_file(tmp_path):
    row = _subject(tmp_path, shift_label=True)
    with pytest.raises(DataError, match=r"label\.nii\.gz.*voxel grid of .*t1\.nii\.gz.*origin") as err:
        io.read_subject(row)
    assert err.value.path == row["label"]  # the error carries the file, not only text


def test_read_subject_missing_file(tmp_path):
    row = _subject(tmp_path)
    row["t1_ir"] = str(tmp_path / "deleted.nii.gz")
    with pytest.raises(DataError, match="deleted.nii.gz"):
        io.read_subject(row)


def test_write_like_copies_geometry(tmp_path):
    ref = _image(direction=DIRECTIONS["permuted"])
    pred = (sitk.GetArrayFromImage(ref) > 30).astype(np.uint8)
    path = io.write_like(pred, ref, tmp_path / "out" / "pred.nii.gz")
    back = sitk.ReadImage(str(path))
    assert io.same_geometry(back, ref)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), pred)
    assert back.GetPixelID() == sitk.sitkUInt8
    # a channel axis becomes a vector image on the same grid
    multi = np.stack([pred, pred], axis=-1).astype(np.float32)
    back = sitk.ReadImage(str(io.write_like(multi, ref, tmp_path / "multi.nii.gz")))
    assert back.GetNumberOfComponentsPerPixel() == 2 and io.same_geometry(back, ref)
    with pytest.raises(ShapeError, match=r"\(7, 9, 11\)"):
        io.write_like(pred.transpose(2, 1, 0), ref, tmp_path / "wrong.nii.gz")
    assert not (tmp_path / "wrong.nii.gz").exists()
    assert not list(tmp_path.rglob("*partial*"))


# --------------------------------------------------------------------------- writing, verified
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd"])
def test_write_image_full_disk_keeps_the_previous_file(tiny_disk, suffix):
    path = tiny_disk / f"t1{suffix}"
    small = _image((8, 8, 8), seed=1)
    io.write_image(small, path)
    # random float32 does not compress: 64**3 * 4 bytes = 1 MiB on a 256 KiB disk
    with pytest.raises(DiskFullError) as err:
        io.write_image(_image((64, 64, 64), seed=2), path)
    assert err.value.path == str(path) and isinstance(err.value, OSError)
    back = io.read_image(path)  # the previous good file, whole and untouched
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(small))
    assert sorted(p.name for p in tiny_disk.iterdir()) == [path.name]  # no partial left


_FSIZE_CHILD = """
import resource, signal, sys
import numpy as np, SimpleITK as sitk
from course_utils import io
from course_utils.errors import DataError
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
img = sitk.GetImageFromArray(np.random.default_rng(0).random((40, 40, 40)).astype(np.float32))
try:
    io.write_image(img, sys.argv[1])
except DataError as exc:
    print("refused", type(exc).__name__, exc.path)
else:
    print("written")
"""


def test_write_image_verifies_a_truncated_write_without_a_mount(tmp_path):
    """A process whose files may not exceed 100 kB: ITK truncates the NIfTI and says nothing."""
    import subprocess
    import sys

    path = tmp_path / "big.nii"
    io.write_image(_image((4, 4, 4), seed=3), path)
    before = path.read_bytes()
    out = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, str(path)], capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.split() == ["refused", "DataError", str(path)], out.stdout + out.stderr
    assert path.read_bytes() == before  # the good file was not replaced by the truncated one
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_check_complete_detects_a_truncated_temporary(tmp_path):
    path = tmp_path / ".t1.abc.partial.nii"
    sitk.WriteImage(_image((10, 10, 10)), str(path))
    io.check_complete(path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError) as err:
        io.check_complete(path)
    assert err.value.path == str(path)


def test_write_image_unknown_extension_names_the_target(tmp_path):
    target = tmp_path / "scan.niigz"
    with pytest.raises(ConfigError) as err:
        io.write_image(_image(), target)
    text = str(err.value)
    assert "scan.niigz" in text and "partial" not in text
    assert all(ext in text for ext in io.WRITE_EXTENSIONS)
    assert err.value.path == str(target) and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- one NIfTI header reader
@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("order", ["<", ">"])
def test_nifti_header_matches_nibabel(tmp_path, suffix, order):
    path = tmp_path / f"be{suffix}"
    data = np.arange(5 * 6 * 7, dtype=f"{order}i2").reshape(5, 6, 7)  # x, y, z
    header = nib.Nifti1Header(endianness=order)
    header.set_data_dtype(data.dtype)
    nib.save(nib.Nifti1Image(data, np.eye(4), header), str(path))
    info = io.nifti_header(path)
    assert info["shape"] == (7, 6, 5) and info["byte_order"] == order
    assert info["data_bytes"] == data.nbytes and info["compressed"] == (suffix == ".nii.gz")
    assert io.nifti_layout(path) == (info["offset"], data.nbytes, order)
    assert io.nifti_layout(tmp_path / "x.nrrd") is None
    np.testing.assert_array_equal(sitk.GetArrayFromImage(io.read_image(path)), data.T)


def test_nifti_with_extensions_is_complete(tmp_path):
    img = nib.Nifti1Image(np.ones((5, 6, 7), np.float32), np.eye(4))
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"a comment " * 30))
    nib.save(img, str(tmp_path / "ext.nii.gz"))
    assert io.nifti_header(tmp_path / "ext.nii.gz")["offset"] > 352
    assert io.read_image(tmp_path / "ext.nii.gz").GetSize() == (5, 6, 7)


def test_not_nifti_inside_is_a_corrupt_file(tmp_path):
    fake = tmp_path / "fake.nii"
    sitk.WriteImage(_image(), str(tmp_path / "real.nrrd"))
    fake.write_bytes((tmp_path / "real.nrrd").read_bytes())
    with pytest.raises(CorruptFileError, match="fake.nii"):
        io.read_image(fake)


def test_sheared_affine_says_what_to_do(tmp_path):
    affine = np.eye(4)
    affine[0, 1] = 0.5  # shear: no rotation matrix describes it
    nib.save(nib.Nifti1Image(np.ones((5, 6, 7), np.float32), affine), str(tmp_path / "s.nii.gz"))
    with pytest.raises(DataError, match=r"s\.nii\.gz.*sheared.*resample") as err:
        io.read_image(tmp_path / "s.nii.gz")
    assert not isinstance(err.value, CorruptFileError)  # the file is fine: do not delete it
    with pytest.raises(DataError, match="sheared"):
        io.header(tmp_path / "s.nii.gz")


# --------------------------------------------------------------------------- DICOM, several series
def test_dicom_folder_with_two_series_is_refused(tmp_path):
    import shutil

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for name, shape in (("t1", (4, 8, 10)), ("flair", (3, 8, 10))):
        for f in io.write_dicom_series(_image(shape), tmp_path / name, series_description=name):
            shutil.copy(f, mixed / f"{name}_{f.name}")
    with pytest.raises(DataError, match=r"2 DICOM series.*series_id") as err:
        io.read_dicom_series(mixed)
    assert err.value.path == str(mixed)
    assert '(4 files, "t1")' in str(err.value) and '(3 files, "flair")' in str(err.value)
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(mixed))
    sizes = sorted(io.read_dicom_series(mixed, series_id=s).GetSize()[2] for s in ids)
    assert sizes == [3, 4]
    with pytest.raises(ConfigError, match="1.2.3") as err:
        io.read_dicom_series(mixed, series_id="1.2.3")
    assert err.value.name == "series_id"


# --------------------------------------------------------------------------- only 3D volumes
def test_read_subject_refuses_2d_4d_and_vector_files(tmp_path):
    row = _subject(tmp_path)
    flat = sitk.GetImageFromArray(np.ones((20, 30), np.float32))
    series = sitk.JoinSeries([_image(), _image()])
    vector = sitk.Compose([_image(), _image()])
    for name, bad in (("flat.nii.gz", flat), ("series.nii.gz", series), ("vec.nii.gz", vector)):
        path = str(io.write_image(bad, tmp_path / name))
        with pytest.raises(ShapeError, match=name.replace(".", r"\.")) as err:
            io.read_subject({**row, "t1_ir": path})
        assert err.value.path == path


# --------------------------------------------------------------------------- one geometry check
def test_data_and_io_agree_on_geometry(tmp_path):
    """data.check_subject used 1e-3 mm for origins, io 1e-4: one check now, one tolerance."""
    from course_utils import data

    for offset, same in ((5e-4, False), (5e-5, True)):
        row = _subject(tmp_path / str(offset))
        lab = sitk.ReadImage(row["label"])
        lab.SetOrigin([o + offset for o in lab.GetOrigin()])
        io.write_image(lab, row["label"])
        outcomes = []
        for check in (io.read_subject, lambda r: data.check_subject(r, sequences=io.SEQUENCES)):
            try:
                check(row)
                outcomes.append(True)
            except DataError as err:
                assert err.path == row["label"] and "t1.nii.gz" in str(err)
                outcomes.append(False)
        assert outcomes == [same, same], offset


@pytest.mark.parametrize("wrong, right", [("plain.nii.gz", "plain.nii"), ("packed.nii", "packed.nii.gz")])
def test_compression_that_contradicts_the_name_says_rename(tmp_path, wrong, right):
    sitk.WriteImage(_image(), str(tmp_path / right))
    (tmp_path / right).rename(tmp_path / wrong)
    with pytest.raises(DataError, match=f"rename it to {right}") as err:
        io.read_image(tmp_path / wrong)
    assert not isinstance(err.value, CorruptFileError) and err.value.path == str(tmp_path / wrong)


@pytest.mark.parametrize("dtype", [np.int64, np.complex64, np.uint8])
def test_write_image_verifies_every_pixel_type(tmp_path, dtype):
    img = sitk.GetImageFromArray(np.ones((3, 4, 5), dtype))
    back = io.read_image(io.write_image(img, tmp_path / "x.nii.gz"))
    assert back.GetPixelID() == img.GetPixelID() and back.GetSize() == (5, 4, 3)


def test_standardizing_refuses_a_nan_that_itk_reads_as_zero(tmp_path):
    """SimpleITK's NIfTI reader turns NaN into 0, so the check must look at the file."""
    from course_utils.data import _common

    array = np.ones((8, 9, 10), np.float32)
    array[2, 3, 4] = np.nan
    src = tmp_path / "t1.nii.gz"
    nib.save(nib.Nifti1Image(array.T, np.eye(4)), str(src))
    assert not np.isnan(sitk.GetArrayViewFromImage(io.read_image(src))).any()  # hidden by ITK
    task = {"files": {"t1": str(src)}, "out_dir": str(tmp_path / "std"), "spacing": 2.0,
            "shape": [5, 5, 4]}
    with pytest.raises(DataError, match="NaN") as err:
        _common.standardize_subject(task)
    assert err.value.path == str(src) and not (tmp_path / "std").exists()


def test_a_folder_is_not_called_missing(tmp_path):
    io.write_dicom_series(_image((3, 4, 5)), tmp_path / "dcm")
    with pytest.raises(DataError, match=r"is a folder.*read_dicom_series"):
        io.read_image(tmp_path / "dcm")


def test_read_subject_refuses_a_label_that_uint8_would_cut(tmp_path):
    row = _subject(tmp_path)
    probabilities = sitk.GetImageFromArray(np.full((7, 9, 11), 0.7, np.float32))
    probabilities.CopyInformation(_image())
    row["label"] = str(io.write_image(probabilities, tmp_path / "prob.nii.gz"))
    with pytest.raises(DataError, match=r"prob\.nii\.gz.*non-integer"):
        io.read_subject(row)
