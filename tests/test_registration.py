"""Registration section of course_utils.preprocessing: template geometry, recovery of a known affine."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from course_utils import preprocessing as pp
from course_utils.errors import ConfigError


@pytest.fixture(scope="module")
def template_4mm() -> sitk.Image:
    return pp.resample_isotropic(pp.mni_template(2), 4.0)


def test_mni_template_geometry_matches_simpleitk_reading_the_file(tmp_path):
    from nilearn import datasets

    path = tmp_path / "mni.nii.gz"
    nib.save(datasets.load_mni152_template(resolution=2), path)
    reference = sitk.ReadImage(str(path))  # SimpleITK's own NIfTI -> LPS conversion
    ours = pp.mni_template(2)
    assert ours.GetSize() == reference.GetSize()
    np.testing.assert_allclose(ours.GetSpacing(), reference.GetSpacing())
    np.testing.assert_allclose(ours.GetOrigin(), reference.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(ours.GetDirection(), reference.GetDirection(), atol=1e-6)
    # same voxels (nib.save re-quantises to the header's uint8 + scale factor: 1/255 steps)
    np.testing.assert_allclose(sitk.GetArrayFromImage(ours), sitk.GetArrayFromImage(reference),
                               atol=0.01)


def _known_affine(image: sitk.Image) -> sitk.AffineTransform:
    true = sitk.AffineTransform(3)
    true.SetMatrix((1.08, 0.05, 0.0, -0.03, 0.95, 0.0, 0.0, 0.0, 1.05))
    true.SetTranslation((6.0, -4.0, 3.0))
    true.SetCenter(image.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2 for s in image.GetSize()]))
    return true


def test_register_affine_recovers_a_known_transform(template_4mm):
    fixed = template_4mm
    true = _known_affine(fixed)
    moving = sitk.Resample(fixed, fixed, true, sitk.sitkLinear, 0.0)  # moving(x) = fixed(T x)
    result = pp.register_affine(fixed, moving, iterations=100, shrink_factors=(2, 1),
                                smoothing_sigmas=(1, 0), sampling_percentage=0.2)
    # registration finds R with moving(R x) = fixed(x), i.e. R = T^-1
    inverse = true.GetInverse()
    centre = np.array(true.GetCenter())
    for offset in ([0, 0, 0], [30, 0, 0], [0, -30, 20], [-25, 25, -15]):
        point = tuple(centre + offset)
        error = np.linalg.norm(np.subtract(result.transform.TransformPoint(point),
                                           inverse.TransformPoint(point)))
        assert error < 2.0, f"point {offset}: {error:.2f} mm off"
    # the observer saw every iteration; the metric (negative MI) went down
    assert len(result.metric) > 5 and len(result.level_starts) == 2
    assert result.metric[-1] < result.metric[0]
    fixed_a = sitk.GetArrayFromImage(fixed)
    before = np.corrcoef(fixed_a.ravel(), sitk.GetArrayFromImage(moving).ravel())[0, 1]
    warped = sitk.GetArrayFromImage(pp.warp(moving, fixed, result.transform))
    after = np.corrcoef(fixed_a.ravel(), warped.ravel())[0, 1]
    assert after > before and after > 0.97


def test_warp_labels_nearest_neighbour(template_4mm):
    rng = np.random.default_rng(0)
    labels = sitk.GetImageFromArray(
        rng.integers(0, 5, sitk.GetArrayFromImage(template_4mm).shape).astype(np.uint8) * 2)
    labels.CopyInformation(template_4mm)
    true = _known_affine(template_4mm)
    warped = pp.warp(labels, template_4mm, true, is_label=True)
    assert warped.GetPixelID() == labels.GetPixelID()
    assert set(np.unique(sitk.GetArrayFromImage(warped))) <= {0, 2, 4, 6, 8}
    same = pp.warp(labels, template_4mm, sitk.Transform(3, sitk.sitkIdentity), is_label=True)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(same), sitk.GetArrayFromImage(labels))


def test_checkerboard_takes_squares_from_both(template_4mm):
    zeros = sitk.Image(template_4mm.GetSize(), sitk.sitkFloat32)
    zeros.CopyInformation(template_4mm)
    board = sitk.GetArrayFromImage(pp.checkerboard(template_4mm, zeros, squares=4))
    template = sitk.GetArrayFromImage(sitk.RescaleIntensity(template_4mm, 0.0, 1.0))
    assert board.shape == template.shape
    assert np.any((board == 0) & (template > 0.5))  # some squares from the zero image
    assert np.any(np.isclose(board, template) & (template > 0.5))  # some from the template


def test_register_affine_rejects_bad_settings(template_4mm):
    with pytest.raises(ConfigError, match="sampling_percentage"):
        pp.register_affine(template_4mm, template_4mm, sampling_percentage=0)
    with pytest.raises(ConfigError, match="per pyramid level"):
        pp.register_affine(template_4mm, template_4mm, shrink_factors=(2, 1),
                           smoothing_sigmas=(1,))


def test_register_affine_returns_a_bunch(template_4mm):
    from sklearn.utils import Bunch

    result = pp.register_affine(template_4mm, template_4mm, iterations=2, shrink_factors=(2,),
                                smoothing_sigmas=(0,))
    assert isinstance(result, Bunch) and result.transform is result["transform"]
    assert set(result) == {"transform", "metric", "level_starts", "stop", "final_metric"}
    with pytest.raises(ConfigError, match="iterations"):
        pp.register_affine(template_4mm, template_4mm, iterations=0)
