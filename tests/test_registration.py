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
    with pytest.raises(ConfigError) as err:
        pp.register_affine(template_4mm, template_4mm, shrink_factors=(2, 1),
                           smoothing_sigmas=(1,))
    assert err.value.name == "smoothing_sigmas"


def test_register_affine_returns_what_the_observers_recorded(template_4mm):
    result = pp.register_affine(template_4mm, template_4mm, iterations=2, shrink_factors=(2,),
                                smoothing_sigmas=(0,))
    assert set(vars(result)) == {"transform", "metric", "level_starts", "stop", "final_metric"}
    assert len(result.metric) <= 2 and result.level_starts == [0]
    assert isinstance(result.transform, sitk.Transform) and "iteration" in result.stop.lower()
    with pytest.raises(ConfigError, match="iterations"):
        pp.register_affine(template_4mm, template_4mm, iterations=0)


# --------------------------------------------------------------------------- taught in 03
def _centre_of(image: sitk.Image) -> tuple[float, ...]:
    return image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in image.GetSize()])


@pytest.mark.parametrize("orientation", ["LPS", "RAS", "PIL"])
def test_jacobian_determinant_of_a_scaling_is_its_volume_factor(template_4mm, orientation):
    """1.1 x 0.9 x 1.2 scaling: det = 1.188 at every voxel, whatever the grid's direction.
    (SimpleITK's DisplacementFieldJacobianDeterminant alone ignores the direction matrix and
    gives a wrong value on a RAS or PIL grid.)"""
    reference = pp.reorient(template_4mm, orientation)
    scale = sitk.ScaleTransform(3, (1.1, 0.9, 1.2))
    scale.SetCenter(_centre_of(reference))
    det = sitk.GetArrayFromImage(pp.jacobian_determinant(scale, reference))
    inner = det[2:-2, 2:-2, 2:-2]
    np.testing.assert_allclose(inner, 1.1 * 0.9 * 1.2, rtol=1e-6)
    out = pp.jacobian_determinant(scale, reference)
    assert out.GetSize() == reference.GetSize()
    np.testing.assert_allclose(out.GetDirection(), reference.GetDirection())


def _bulge(image: sitk.Image, radius_mm: float = 25.0, amount: float = 0.35) -> sitk.Transform:
    """Fixed -> moving points pulled towards the centre of an LPS-aligned ``image``: the moving
    image is the fixed one magnified locally (a displacement field transform)."""
    size, spacing = image.GetSize(), image.GetSpacing()
    idx = np.indices(size[::-1]).astype(float)  # z, y, x
    centre_idx = [(n - 1) / 2 for n in size[::-1]]
    offsets = [(i - c) * s for i, c, s in zip(idx, centre_idx, spacing[::-1], strict=True)]
    r2 = sum(o**2 for o in offsets)
    weight = amount * np.exp(-r2 / (2 * radius_mm**2))
    # displacement towards the centre: fixed x -> moving x - w * offset (the moving image is
    # the fixed one expanded about the centre)
    field = np.stack([-weight * offsets[2], -weight * offsets[1], -weight * offsets[0]], axis=-1)
    displacement = sitk.GetImageFromArray(field, isVector=True)
    displacement.CopyInformation(image)
    return sitk.DisplacementFieldTransform(sitk.Cast(displacement, sitk.sitkVectorFloat64))


def test_register_bspline_finds_a_local_expansion_the_affine_cannot(template_4mm):
    """Moving = template with a local bulge at its centre. Affine then B-spline: the B-spline's
    determinant is above 1 where the bulge is (the subject is locally larger), near 1 far from
    it; the warped image matches better than after the affine alone; and the returned
    transform is the affine followed by the B-spline (fixed -> moving)."""
    fixed = pp.reorient(pp.resample_isotropic(template_4mm, 6.0), "LPS")
    assert fixed.GetDirection() == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)  # _bulge's axes
    bulge = _bulge(fixed)
    moving = sitk.Resample(fixed, fixed, bulge, sitk.sitkLinear, 0.0)
    affine = pp.register_affine(fixed, moving, iterations=40, shrink_factors=(1,),
                                smoothing_sigmas=(0,), sampling_percentage=0.3)
    result = pp.register_bspline(fixed, moving, affine.transform, grid_mm=40.0, iterations=15,
                                 shrink_factors=(1,), smoothing_sigmas=(0,),
                                 sampling_percentage=0.2)
    assert set(vars(result)) >= {"transform", "bspline", "metric", "level_starts", "stop"}
    point = (3.0, -20.0, 15.0)
    np.testing.assert_allclose(
        result.transform.TransformPoint(point),
        affine.transform.TransformPoint(result.bspline.TransformPoint(point)), atol=1e-9)
    det = sitk.GetArrayFromImage(pp.jacobian_determinant(result.bspline, fixed))
    true_det = sitk.GetArrayFromImage(pp.jacobian_determinant(bulge, fixed))
    centre = tuple(n // 2 for n in det.shape)
    # the bulge maps fixed points towards the centre (det < 1); the registration finds the
    # inverse, fixed -> moving, which expands there (det > 1)
    assert true_det[centre] < 0.5 and det[centre] > 1.15
    assert abs(np.median(det) - 1) < 0.1  # far from the bulge, nothing to change
    # where the bulge moves points most (~5 mm, 20 mm from the centre) the composite maps them
    # where the true inverse does: bulge(R(y)) = y, much closer than after the affine alone
    centre_mm = np.array(_centre_of(fixed))
    points = [centre_mm + 20.0 * np.array(d) for d in np.eye(3).tolist() + (-np.eye(3)).tolist()]

    def error(transform):
        return np.mean([np.linalg.norm(np.subtract(
            bulge.TransformPoint(transform.TransformPoint(tuple(y))), y)) for y in points])

    assert error(result.transform) < 0.6 * error(affine.transform)


def test_register_bspline_names_bad_settings(template_4mm):
    identity = sitk.Transform(3, sitk.sitkIdentity)
    with pytest.raises(ConfigError) as err:
        pp.register_bspline(template_4mm, template_4mm, identity, grid_mm=0)
    assert err.value.name == "grid_mm"
    with pytest.raises(ConfigError) as err:
        pp.register_bspline(template_4mm, template_4mm, identity, iterations=0)
    assert err.value.name == "iterations"


def test_the_taught_pieces_compose_into_another_registration(template_4mm):
    # registration_method + run_registration with a translation (what 03's code builds on)
    fixed = sitk.Cast(template_4mm, sitk.sitkFloat32)
    moving = sitk.Resample(fixed, fixed, sitk.TranslationTransform(3, (6.0, -4.0, 3.0)),
                           sitk.sitkLinear, 0.0)  # moving(x) = fixed(x + t)
    method = pp.registration.registration_method((2, 1), (1.0, 0.0), 0.3, seed=1)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3,
                                                    numberOfIterations=60)
    method.SetInitialTransform(sitk.TranslationTransform(3), inPlace=False)
    result = pp.registration.run_registration(method, fixed, moving)
    point = fixed.TransformContinuousIndexToPhysicalPoint([n / 2 for n in fixed.GetSize()])
    shift = np.subtract(result.transform.TransformPoint(point), point)
    np.testing.assert_allclose(shift, (-6.0, 4.0, -3.0), atol=1.0)  # R x = x - t
    assert result.level_starts == [0, result.level_starts[1]] and 0 < result.level_starts[1]
    assert result.final_metric < result.metric[0]
