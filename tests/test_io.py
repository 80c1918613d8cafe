"""course_utils.io against independent references: SimpleITK's own transforms, nibabel's affine."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from course_utils import io
from course_utils.errors import DataError, ShapeError


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
