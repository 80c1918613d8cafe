"""Spatial preprocessing: reorient, resample_isotropic, crop_or_pad against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

from course_utils.errors import ConfigError, ShapeError
from course_utils.preprocessing import (
    crop_or_pad,
    reorient,
    resample_isotropic,
    resampled_size,
    smooth_before_downsampling,
)


def _image(size=(20, 24, 12), spacing=(1.0, 1.2, 3.0), origin=(-10.0, 5.0, 30.0),
           orientation="RAS", seed=0, label=False) -> sitk.Image:
    rng = np.random.default_rng(seed)
    shape = size[::-1]
    if label:
        array = np.zeros(shape, np.uint8)
        z, y, x = np.indices(shape)
        array[(x - 9) ** 2 + (y - 12) ** 2 + (4 * (z - 6)) ** 2 < 40] = 3
        array[(x - 5) ** 2 + (y - 6) ** 2 < 8] = 1
    else:
        array = ndi.gaussian_filter(rng.normal(size=shape), 2).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    return sitk.DICOMOrient(image, orientation)


def _centre(image: sitk.Image) -> np.ndarray:
    return np.array(image.TransformContinuousIndexToPhysicalPoint(
        [(n - 1) / 2 for n in image.GetSize()]))


def _extent(image: sitk.Image) -> np.ndarray:
    return np.array(image.GetSize()) * np.array(image.GetSpacing())


def test_reorient_is_lossless_and_physical() -> None:
    image = _image(orientation="PIL")
    out = reorient(image, "LPS")
    assert np.allclose(out.GetDirection(), np.eye(3).ravel())
    # every voxel keeps its value at its physical point (checked via SimpleITK's own transform)
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx = [int(rng.integers(n)) for n in out.GetSize()]
        point = out.TransformIndexToPhysicalPoint(idx)
        src = image.TransformPhysicalPointToIndex(point)
        assert out[idx] == image[src]
    back = reorient(out, "PIL")
    assert back.GetDirection() == pytest.approx(image.GetDirection())
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(image))
    with pytest.raises(ConfigError):
        reorient(image, "LLS")


@pytest.mark.parametrize("spacing", [2.0, 1.5, 0.8])
def test_resample_preserves_extent_and_centre(spacing: float) -> None:
    image = _image()
    out = resample_isotropic(image, spacing)
    expected_size = [int(round(n * s / spacing)) for n, s in zip(image.GetSize(),
                                                                 image.GetSpacing(), strict=True)]
    assert list(out.GetSize()) == expected_size
    assert out.GetSpacing() == pytest.approx((spacing,) * 3)
    assert out.GetOrigin() == pytest.approx(image.GetOrigin())
    assert out.GetDirection() == pytest.approx(image.GetDirection())
    old_s, new_s = np.array(image.GetSpacing()), np.array(out.GetSpacing())
    # extent: within half a new voxel (the size is rounded)
    assert np.all(np.abs(_extent(out) - _extent(image)) <= new_s / 2 + 1e-6)
    # centre: the origin (first voxel centre) is kept, so the centre moves by the rounding
    # plus half the change of voxel size: within half a voxel of the coarser grid
    shift = np.abs(np.array(out.GetDirection()).reshape(3, 3).T @ (_centre(out) - _centre(image)))
    assert np.all(shift <= np.maximum(old_s, new_s) / 2 + new_s / 4 + 1e-6)
    expected = np.abs((_extent(out) - _extent(image)) / 2 - (new_s - old_s) / 2)
    np.testing.assert_allclose(shift, expected, atol=1e-6)


def test_resample_matches_an_independent_reference() -> None:
    """A smooth field sampled on the new grid ~ B-spline resampled values (scipy as reference)."""
    size, spacing = (30, 30, 30), (1.0, 1.0, 2.0)
    z, y, x = np.indices(size[::-1]).astype(float)
    field = np.sin(x / 5) + np.cos(y / 7) + np.sin(z * 2 / 9)
    image = sitk.GetImageFromArray(field.astype(np.float32))
    image.SetSpacing(spacing)
    out = resample_isotropic(image, 1.0)
    zz, yy, xx = np.indices(out.GetSize()[::-1]).astype(float)
    expected = np.sin(xx / 5) + np.cos(yy / 7) + np.sin(zz / 9)  # z in mm = index * 1
    got = sitk.GetArrayFromImage(out)
    inner = (slice(3, -3),) * 3  # away from the border
    np.testing.assert_allclose(got[inner], expected[inner], atol=0.02)
    # scipy's spline zoom of the same data agrees too
    ref = ndi.map_coordinates(field, [zz / 2, yy, xx], order=3, mode="nearest")
    np.testing.assert_allclose(got[inner], ref[inner], atol=0.02)


def test_labels_gain_no_new_values() -> None:
    label = _image(label=True)
    out = resample_isotropic(label, 0.7, is_label=True)
    assert set(np.unique(sitk.GetArrayFromImage(out))) <= set(
        np.unique(sitk.GetArrayFromImage(label)))
    assert out.GetPixelID() == label.GetPixelID()
    # volume of each label kept within 10 %
    for value in (1, 3):
        before = np.count_nonzero(sitk.GetArrayViewFromImage(label) == value) * np.prod(
            label.GetSpacing())
        after = np.count_nonzero(sitk.GetArrayViewFromImage(out) == value) * 0.7**3
        assert after == pytest.approx(before, rel=0.1)


def test_already_isotropic_comes_back_unchanged() -> None:
    image = _image(spacing=(2.0, 2.0, 2.0))
    out = resample_isotropic(image, 2.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(image))
    assert out.GetOrigin() == image.GetOrigin() and out.GetSpacing() == image.GetSpacing()
    assert out.GetDirection() == image.GetDirection()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), (1.0, 0.0, 1.0)])
def test_bad_spacing_is_a_config_error(bad) -> None:
    with pytest.raises(ConfigError, match="spacing"):
        resample_isotropic(_image(), bad)


@pytest.mark.parametrize("size", [(16, 30, 12), (21, 19, 15), (20, 24, 12)])
def test_crop_or_pad_keeps_physical_positions(size) -> None:
    image = _image(orientation="LIP")
    out = crop_or_pad(image, size)
    assert out.GetSize() == size
    assert out.GetSpacing() == image.GetSpacing() and out.GetDirection() == image.GetDirection()
    # centre preserved within half a voxel
    assert np.all(np.abs(_centre(out) - _centre(image)) <= np.max(image.GetSpacing()) / 2 + 1e-6)
    # every voxel that exists in both holds the same value at the same physical point
    arr = sitk.GetArrayViewFromImage(out)
    for idx in np.ndindex(*out.GetSize()):
        if idx[0] % 3 or idx[1] % 3:
            continue
        point = out.TransformIndexToPhysicalPoint([int(i) for i in idx])
        src = image.TransformPhysicalPointToContinuousIndex(point)
        src = [round(s) for s in src]
        inside = all(0 <= s < n for s, n in zip(src, image.GetSize(), strict=True))
        value = arr[idx[2], idx[1], idx[0]]
        assert value == (image[src] if inside else 0)


def test_crop_or_pad_rejects_bad_sizes() -> None:
    with pytest.raises(ShapeError):
        crop_or_pad(_image(), (10, 10))
    with pytest.raises(ShapeError):
        crop_or_pad(_image(), (10, 0, 10))


@pytest.mark.parametrize("spacing", [1e-3, (1.0, 1.0, 1e-5)])
def test_spacing_in_metres_is_refused_with_the_mm_hint(spacing) -> None:
    """1e-3 would be a grid of ~1e13 voxels: ITK failed to allocate memory; now a clear error."""
    with pytest.raises(ConfigError, match=r"millimetres.*did you mean") as err:
        resample_isotropic(_image(), spacing)
    assert err.value.name == "spacing"


@pytest.mark.parametrize("bad", ["2", True, None, (1.0, 2.0)])
def test_spacing_of_the_wrong_kind_is_named(bad) -> None:
    with pytest.raises(ConfigError) as err:
        resample_isotropic(_image(), bad)
    assert err.value.name == "spacing"


@pytest.mark.parametrize("function", [reorient, resample_isotropic])
def test_2d_and_4d_images_are_refused_clearly(function) -> None:
    flat = sitk.GetImageFromArray(np.ones((20, 30), np.float32))
    series = sitk.JoinSeries([_image(), _image()])
    for image, dim in ((flat, 2), (series, 4)):
        with pytest.raises(ShapeError, match=f"{dim}D image.*not a 3D volume"):
            function(image)


def test_unknown_orientation_names_the_argument() -> None:
    with pytest.raises(ConfigError) as err:
        reorient(_image(), "LPX")
    assert err.value.name == "orientation"


def test_an_array_is_refused_with_how_to_give_it_a_header(tmp_path) -> None:
    array = sitk.GetArrayFromImage(_image())
    with pytest.raises(ShapeError, match=r"got ndarray.*GetImageFromArray"):
        resample_isotropic(array, 2.0)
    path = tmp_path / "img.nii.gz"
    sitk.WriteImage(_image(), str(path))
    assert resample_isotropic(str(path), 2.0).GetSpacing() == (2.0, 2.0, 2.0)  # a file is read


# --------------------------------------------------------------------------- taught in 03
def _stripes(period_mm: float, size=(96, 8, 8), spacing=(1.0, 1.0, 1.0)) -> sitk.Image:
    """A sine pattern along x of ``period_mm``: finer than a coarse grid can show when small."""
    x = np.arange(size[0]) * spacing[0]
    array = np.broadcast_to(np.sin(2 * np.pi * x / period_mm), size[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(spacing)
    return image


def test_downsampling_blurs_detail_finer_than_the_new_voxels_instead_of_aliasing_it() -> None:
    """A 3 mm sine sampled on a 4 mm grid aliases into a false 12 mm wave of nearly full
    amplitude (1/3 - 1/4 = 1/12 cycles per mm); with the blur it is almost gone. The old
    resample_isotropic (no blur) kept the false wave."""
    image = _stripes(3.0)
    out = sitk.GetArrayFromImage(resample_isotropic(image, 4.0))[1, 1]
    naive = sitk.GetArrayFromImage(sitk.Resample(
        image, resampled_size(image, (4.0,) * 3), sitk.Transform(), sitk.sitkBSpline,
        image.GetOrigin(), (4.0,) * 3, image.GetDirection(), 0.0, sitk.sitkFloat32))[1, 1]
    inner = slice(3, -3)
    assert np.abs(naive[inner]).max() > 0.6  # the false wave, with the old code's sampling
    assert np.abs(out[inner]).max() < 0.25 * np.abs(naive[inner]).max()


def test_detail_the_coarse_grid_can_show_survives_the_blur() -> None:
    """A 24 mm wave on a 4 mm grid is well sampled: the blur keeps over 85 % of its amplitude
    (the 4 mm samples of a unit sine of period 24 mm reach sin(60 degrees) at most)."""
    out = sitk.GetArrayFromImage(resample_isotropic(_stripes(24.0), 4.0))[1, 1]
    assert np.abs(out[3:-3]).max() > 0.85 * np.sin(np.pi / 3)


def test_smoothing_acts_only_on_axes_that_get_coarser() -> None:
    """Anisotropic 1 x 1 x 3 mm to 2 mm: x, y are blurred (sigma 0.42 * sqrt(3) mm, as a
    SimpleITK reference computes), z (finer) is not; going finer everywhere changes nothing."""
    image = _image(spacing=(1.0, 1.0, 3.0), orientation="LPS")
    smoothed = smooth_before_downsampling(image, (2.0, 2.0, 2.0))
    sigma = 0.42 * np.sqrt(3.0)
    reference = sitk.DiscreteGaussian(sitk.Cast(image, sitk.sitkFloat32),
                                      [sigma**2, sigma**2, 0.0], 32, 0.01, True)
    np.testing.assert_allclose(sitk.GetArrayFromImage(smoothed),
                               sitk.GetArrayFromImage(reference), atol=1e-6)
    assert smooth_before_downsampling(image, (0.5, 0.5, 3.0)) is image


def test_resampled_size_is_the_extent_formula() -> None:
    image = _image(size=(20, 24, 12), spacing=(1.0, 1.2, 3.0))
    assert resampled_size(image, (2.0, 2.0, 2.0)) == [10, 14, 18]  # round(24 * 1.2 / 2) = 14
    assert resampled_size(image, (100.0, 100.0, 100.0)) == [1, 1, 1]  # never an empty axis


def test_resample_of_a_real_anisotropic_nifti_keeps_type_origin_and_direction(tmp_path) -> None:
    """An int16 RAS file with 3 mm slices, through SimpleITK's writer and reader: the result
    keeps the pixel type, the origin and the direction, and the labels keep their values."""
    image = sitk.Cast(sitk.RescaleIntensity(_image(spacing=(1.0, 1.0, 3.0)), 0, 1000),
                      sitk.sitkInt16)
    path = tmp_path / "t1.nii.gz"
    sitk.WriteImage(image, str(path))
    out = resample_isotropic(str(path), 2.0)
    assert out.GetPixelID() == sitk.sitkInt16
    np.testing.assert_allclose(out.GetOrigin(), image.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(out.GetDirection(), image.GetDirection(), atol=1e-6)
    assert list(out.GetSize()) == resampled_size(image, (2.0, 2.0, 2.0))
