"""Registration (lesson 03): the MNI152 template, affine then B-spline registration, warping.

Wraps SimpleITK's ImageRegistrationMethod. ``registration_method``, ``run_registration``,
``register_affine``, ``register_bspline`` (which reuses the first two) and ``jacobian_determinant``
are taught in notebook 03 (tools/taught.py keeps the two copies identical). A transform returned
here maps points of the fixed image to the moving one, as ``sitk.Resample`` expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np
import SimpleITK as sitk

from course_utils import checks
from course_utils.errors import ConfigError
from course_utils.io import as_image

MNI_KINDS: dict[str, str] = {
    "t1": "load_mni152_template",
    "brain_mask": "load_mni152_brain_mask",
    "gm": "load_mni152_gm_template",
    "wm": "load_mni152_wm_template",
}


def mni_template(resolution: int = 2, kind: str = "t1") -> sitk.Image:
    """An MNI152 template shipped inside nilearn (no download), as a float32 SimpleITK image.

    ``kind``: ``"t1"`` (the T1 template), ``"brain_mask"``, ``"gm"`` or ``"wm"``
    (grey/white matter probability maps); ``resolution`` 1 or 2 mm.
    """
    import nibabel as nib
    from nilearn import datasets

    if kind not in MNI_KINDS:
        raise ConfigError(f"unknown MNI152 template kind {kind!r}; choose one of "
                          f"{', '.join(MNI_KINDS)}")
    nii = getattr(datasets, MNI_KINDS[kind])(resolution=resolution)
    nii = nib.as_closest_canonical(nii)
    data = np.asarray(nii.get_fdata(), dtype=np.float32)
    affine = np.asarray(nii.affine, dtype=float)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    columns = affine[:3, :3]
    spacing = np.linalg.norm(columns, axis=0)
    direction = ras_to_lps @ (columns / spacing)
    image = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    image.SetSpacing(spacing.tolist())
    image.SetOrigin((ras_to_lps @ affine[:3, 3]).tolist())
    image.SetDirection(direction.ravel().tolist())
    return image


def registration_method(shrink_factors: Sequence[int], smoothing_sigmas: Sequence[float],
                        sampling_percentage: float, seed: int) -> sitk.ImageRegistrationMethod:
    """SimpleITK's registration with its metric, the metric's sampling and a multi-resolution pyramid.

    Parameters: ``shrink_factors`` and ``smoothing_sigmas`` (in voxels): one per pyramid level,
    coarse to fine; ``sampling_percentage``: the fraction of voxels the metric reads, in
    (0, 1]; ``seed``: of that random sampling. The optimiser and the transform come next.
    """
    if len(shrink_factors) != len(smoothing_sigmas):
        raise ConfigError("give one smoothing sigma per shrink factor (one per pyramid level)",
                          name="smoothing_sigmas")
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)  # works across contrasts
    method.SetMetricSamplingStrategy(method.RANDOM)  # a fresh random set of voxels per iteration
    method.SetMetricSamplingPercentage(
        checks.number(sampling_percentage, "sampling_percentage", minimum=0, maximum=1,
                      open_min=True), int(seed))
    method.SetInterpolator(sitk.sitkLinear)  # reads the moving image between its voxels
    method.SetShrinkFactorsPerLevel([int(s) for s in shrink_factors])  # e.g. 2: half the voxels
    method.SetSmoothingSigmasPerLevel([float(s) for s in smoothing_sigmas])  # blur, then shrink
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()  # the sigmas are in voxels
    return method


def run_registration(method: sitk.ImageRegistrationMethod, fixed: sitk.Image,
                     moving: sitk.Image) -> SimpleNamespace:
    """Run ``method``, with observers that record the metric at every iteration.

    Parameters: ``method``: a registration with its optimiser and initial transform set;
    ``fixed``, ``moving``: float images. Returns a namespace with ``transform`` (fixed ->
    moving points), ``metric`` (one value per iteration), ``level_starts`` (the iteration at
    which each pyramid level starts), ``stop`` (why the optimiser stopped), ``final_metric``.
    """
    metric, level_starts = [], []
    method.AddCommand(sitk.sitkIterationEvent, lambda: metric.append(method.GetMetricValue()))
    method.AddCommand(sitk.sitkMultiResolutionIterationEvent,
                      lambda: level_starts.append(len(metric)))
    transform = method.Execute(fixed, moving)
    return SimpleNamespace(transform=transform, metric=metric, level_starts=level_starts,
                           stop=method.GetOptimizerStopConditionDescription(),
                           final_metric=method.GetMetricValue())


def register_affine(
    fixed: sitk.Image,
    moving: sitk.Image,
    *,
    iterations: int = 50,
    shrink_factors: Sequence[int] = (4, 2, 1),
    smoothing_sigmas: Sequence[float] = (2.0, 1.0, 0.0),
    sampling_percentage: float = 0.05,
    learning_rate: float = 1.0,
    seed: int = 42,
) -> SimpleNamespace:
    """Affine registration of ``moving`` onto ``fixed`` (12 parameters: rotation, scale, shear, shift).

    Parameters: ``fixed``, ``moving``: 3D images (or their files); ``iterations``: per pyramid
    level; ``shrink_factors``, ``smoothing_sigmas`` (voxels): one per level; ``sampling_percentage``
    of voxels the metric reads, in (0, 1]; ``learning_rate``: the optimiser's first step;
    ``seed``: of the sampling. Returns what :func:`run_registration` returns.
    """
    fixed = sitk.Cast(as_image(fixed, "the fixed image"), sitk.sitkFloat32)
    moving = sitk.Cast(as_image(moving, "the moving image"), sitk.sitkFloat32)
    method = registration_method(shrink_factors, smoothing_sigmas, sampling_percentage, seed)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=float(learning_rate), minStep=1e-4, gradientMagnitudeTolerance=1e-8,
        numberOfIterations=checks.integer(iterations, "iterations", minimum=1))
    method.SetOptimizerScalesFromPhysicalShift()  # a step moves every parameter about as far
    # start with the two centres of mass on top of each other (no rotation, no scaling yet)
    method.SetInitialTransform(sitk.CenteredTransformInitializer(
        fixed, moving, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.MOMENTS),
        inPlace=False)
    return run_registration(method, fixed, moving)


def register_bspline(
    fixed: sitk.Image,
    moving: sitk.Image,
    initial: sitk.Transform,
    *,
    grid_mm: float = 30.0,
    iterations: int = 50,
    shrink_factors: Sequence[int] = (2, 1),
    smoothing_sigmas: Sequence[float] = (1.0, 0.0),
    sampling_percentage: float = 0.05,
    seed: int = 42,
) -> SimpleNamespace:
    """Deformable (B-spline) registration of ``moving`` onto ``fixed``, after ``initial`` (affine).

    A cubic B-spline transform with a control point every ``grid_mm`` mm over the fixed
    image, optimised with L-BFGS-B on Mattes mutual information (random sampling, a
    pyramid), on top of ``initial``, which stays fixed.

    Parameters: ``fixed``, ``moving``, 3D images (or their files); ``initial``, the transform
    found before (e.g. ``register_affine(...).transform``); ``grid_mm``, control point spacing
    (smaller: finer, more local deformations); ``iterations`` per pyramid level;
    ``shrink_factors``, ``smoothing_sigmas`` (voxels), one per level; ``sampling_percentage`` of
    voxels sampled, in (0, 1]; ``seed`` of the sampling. Returns a namespace like
    :func:`register_affine`'s, whose ``transform`` is ``initial`` followed by the B-spline (a
    CompositeTransform, fixed -> moving points), plus ``bspline`` (the deformable part alone).
    """
    method = registration_method(shrink_factors, smoothing_sigmas, sampling_percentage, seed)
    iterations = checks.integer(iterations, "iterations", minimum=1)
    grid_mm = checks.number(grid_mm, "grid_mm", minimum=0, open_min=True)
    fixed_f = sitk.Cast(as_image(fixed, "the fixed image"), sitk.sitkFloat32)
    moving_f = sitk.Cast(as_image(moving, "the moving image"), sitk.sitkFloat32)
    # the control-point grid: one mesh cell every grid_mm mm along each axis of the fixed image
    extent = np.array(fixed_f.GetSize()) * np.array(fixed_f.GetSpacing())
    mesh = [max(1, int(round(e / grid_mm))) for e in extent]
    bspline = sitk.BSplineTransformInitializer(fixed_f, mesh, order=3)  # all displacements 0
    # L-BFGS-B: a quasi-Newton optimiser suited to many parameters (3 per control point)
    method.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=iterations,
                                maximumNumberOfCorrections=5,
                                maximumNumberOfFunctionEvaluations=4 * iterations)
    method.SetMovingInitialTransform(initial)  # applied after the B-spline, never optimised
    method.SetInitialTransform(bspline, inPlace=True)  # only the control points move
    result = run_registration(method, fixed_f, moving_f)
    result.bspline = sitk.BSplineTransform(result.transform)
    # a fixed point goes through the B-spline, then the affine (a composite applies the last first)
    result.transform = sitk.CompositeTransform([initial, result.bspline])
    return result


def jacobian_determinant(transform: sitk.Transform, reference: sitk.Image) -> sitk.Image:
    """The local volume change of ``transform`` at every voxel of ``reference``'s grid.

    det(Jacobian) > 1: a small region of the reference maps onto a larger region of the
    moving image (the subject is locally larger there); < 1: smaller; 1: same size.

    Parameters: ``transform``, fixed -> moving points (what the registrations return);
    ``reference``, the fixed image whose grid the map is computed on.
    """
    field = sitk.TransformToDisplacementField(
        transform, sitk.sitkVectorFloat64, reference.GetSize(), reference.GetOrigin(),
        reference.GetSpacing(), reference.GetDirection())
    # the filter differentiates along the voxel axes (it ignores the direction matrix), so
    # express each displacement along those axes too: D^T u (u as a row: u @ D)
    axes = np.reshape(reference.GetDirection(), (3, 3))
    along_axes = sitk.GetImageFromArray(sitk.GetArrayFromImage(field) @ axes, isVector=True)
    along_axes.SetSpacing(reference.GetSpacing())
    det = sitk.DisplacementFieldJacobianDeterminant(along_axes)
    det.CopyInformation(reference)
    return det


def warp(
    moving: sitk.Image, reference: sitk.Image, transform: sitk.Transform, is_label: bool = False
) -> sitk.Image:
    """Resample ``moving`` onto ``reference``'s grid through ``transform``.

    Parameters: ``moving``, the image to resample; ``reference``, the grid;
    ``transform``, fixed -> moving points (what :func:`register_affine` returns);
    ``is_label``, nearest neighbour (no new, in-between label values) instead of linear.
    """
    interpolator = sitk.sitkNearestNeighbor if is_label else sitk.sitkLinear
    return sitk.Resample(moving, reference, transform, interpolator, 0.0, moving.GetPixelID())


def checkerboard(fixed: sitk.Image, moving_resampled: sitk.Image, squares: int = 6) -> sitk.Image:
    """Checkerboard of two images on the same grid (each rescaled to [0, 1]) to judge alignment.

    Parameters: ``fixed``, ``moving_resampled``, images on one grid; ``squares`` per axis.
    """
    a = sitk.RescaleIntensity(sitk.Cast(fixed, sitk.sitkFloat32), 0.0, 1.0)
    b = sitk.RescaleIntensity(sitk.Cast(moving_resampled, sitk.sitkFloat32), 0.0, 1.0)
    b.CopyInformation(a)
    return sitk.CheckerBoard(a, b, [int(squares)] * a.GetDimension())
