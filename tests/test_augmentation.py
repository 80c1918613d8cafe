"""course_utils.augmentation: one contract, draws apart from transforms, physical space, tf.data."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from course_utils import augmentation as aug
from course_utils.errors import ConfigError, DataError, ShapeError

SHAPE = (16, 16, 20)


def _pair(seed=0, channels=2):
    """A blocky label map (classes 0, 1, 3, 7) and an image that encodes it in channel 0."""
    rng = np.random.default_rng(seed)
    coarse = rng.choice(np.array([0, 1, 3, 7], np.uint8), size=(4, 4, 5))
    label = coarse.repeat(4, 0).repeat(4, 1).repeat(4, 2)  # blocks of 4x4x4 voxels
    image = np.stack([label.astype(np.float32)]
                     + [rng.normal(size=SHAPE).astype(np.float32) for _ in range(channels - 1)],
                     axis=-1)
    return image, label


#: every augmentation with the options the tests use: all share f(image, label, rng, **options)
OPTIONS = {
    "gaussian_noise": {"sigma": 0.1},
    "random_offset": {"max_offset": 0.5},
    "gamma_contrast": {},
    "bias_field": {"strength": 0.3},
    "random_flip": {"p": 1.0},
    "random_rotation": {"max_degrees": 25, "spacing": (2.0, 1.0, 1.0)},
    "elastic": {"strength": 2.0},
    "random_crop": {"size": (9, 10, 11)},
}
SPATIAL = [n for n, (kind, _) in aug.AUGMENTATIONS.items() if kind == "spatial"]
INTENSITY = [n for n, (kind, _) in aug.AUGMENTATIONS.items() if kind == "intensity"]


def _run(name, image, label, rng):
    return aug.AUGMENTATIONS[name][1](image, label, rng, **OPTIONS[name])


#: name -> (draw(rng, image) -> params, apply(image, label, params) -> pair): the split pieces
SPLIT = {
    "gaussian_noise": (lambda rng, im: aug.draw_noise(rng, im.shape),
                       lambda im, lb, q: aug.add_noise(im, lb, q, sigma=0.1)),
    "random_offset": (lambda rng, im: aug.draw_offset(rng, im.shape[-1], max_offset=0.5),
                      aug.add_offset),
    "gamma_contrast": (lambda rng, im: aug.draw_gamma(rng), aug.adjust_gamma),
    "bias_field": (lambda rng, im: aug.draw_bias_field(rng, strength=0.3), aug.apply_bias_field),
    "random_flip": (lambda rng, im: aug.draw_flip(rng, p=1.0),
                    lambda im, lb, q: aug.flip_lr(im, lb) if q else (im, lb)),
    "random_rotation": (lambda rng, im: aug.draw_rotation(rng, max_degrees=25),
                        lambda im, lb, q: aug.rotate(im, lb, q, spacing=(2.0, 1.0, 1.0))),
    "elastic": (lambda rng, im: aug.draw_elastic(rng, strength=2.0), aug.deform),
    "random_crop": (lambda rng, im: aug.draw_crop(rng, im.shape[:3], size=(9, 10, 11)),
                    lambda im, lb, q: aug.crop(im, lb, q, (9, 10, 11))),
}


# --------------------------------------------------------------------------- the contract
def test_every_augmentation_has_one_signature_with_keyword_only_options():
    import inspect

    assert set(SPLIT) == set(aug.AUGMENTATIONS) == set(OPTIONS)
    for name, (_, fn) in aug.AUGMENTATIONS.items():
        params = list(inspect.signature(fn).parameters.values())
        assert [p.name for p in params[:3]] == ["image", "label", "rng"], name
        named_after = [p for p in params[3:] if p.kind != p.VAR_POSITIONAL]
        assert named_after and all(p.kind == p.KEYWORD_ONLY for p in named_after), name
        assert fn.__doc__, name


@pytest.mark.parametrize("name", list(aug.AUGMENTATIONS))
def test_random_is_draw_then_deterministic_apply(name):
    image, label = _pair()
    draw, apply = SPLIT[name]
    params = draw(np.random.default_rng(11), image)
    again = draw(np.random.default_rng(11), image)
    np.testing.assert_array_equal(np.asarray(params), np.asarray(again))  # draw: reproducible
    once, twice = apply(image, label, params), apply(image, label, params)
    np.testing.assert_array_equal(once[0], twice[0])  # same params -> same output
    np.testing.assert_array_equal(once[1], twice[1])
    direct = _run(name, image, label, np.random.default_rng(11))
    np.testing.assert_array_equal(direct[0], once[0])  # random_x = apply(draw(rng))
    np.testing.assert_array_equal(direct[1], once[1])


@pytest.mark.parametrize("name", list(aug.AUGMENTATIONS))
def test_reproducible_from_seed_and_label_none_passes(name):
    image, label = _pair()
    first = _run(name, image, label, np.random.default_rng(11))
    np.testing.assert_array_equal(first[0], _run(name, image, label, np.random.default_rng(11))[0])
    if name != "random_flip":  # p=1: every seed flips
        assert not np.array_equal(first[0], _run(name, image, label, np.random.default_rng(12))[0])
    alone = _run(name, image, None, np.random.default_rng(11))
    assert alone[1] is None
    np.testing.assert_array_equal(alone[0], first[0])


@pytest.mark.parametrize("name", SPATIAL)
def test_spatial_keeps_label_set_and_moves_image_and_labels_together(name):
    image, label = _pair()
    out_image, out_label = _run(name, image, label, np.random.default_rng(5))
    assert out_label.dtype == label.dtype
    assert out_image.shape[:3] == out_label.shape and out_image.shape[3] == 2
    assert set(np.unique(out_label)) <= set(np.unique(label))  # nearest neighbour: no new values
    # channel 0 of the image is the label map: wherever the linearly interpolated image is
    # (almost) a whole number, the nearest-neighbour label must agree: the same draw was used
    clean = np.isclose(out_image[..., 0], np.round(out_image[..., 0]), atol=1e-3)
    agree = out_label[clean] == np.round(out_image[..., 0][clean])
    assert clean.mean() > 0.5 and agree.mean() > 0.97


# --------------------------------------------------------------------------- compose
def test_compose_works_with_every_augmentation_including_random_crop():
    image, label = _pair()
    steps = [(aug.AUGMENTATIONS[n][1], OPTIONS[n]) for n in aug.AUGMENTATIONS]
    pipe = aug.compose(*steps)
    out_image, out_label = pipe(image, label, np.random.default_rng(4))
    assert out_image.shape == (9, 10, 11, 2) and out_label.shape == (9, 10, 11)
    rng = np.random.default_rng(4)  # the same draws, in order, from one generator
    expected = image, label
    for fn, options in steps:
        expected = fn(*expected, rng, **options)
    np.testing.assert_array_equal(out_image, expected[0])
    np.testing.assert_array_equal(out_label, expected[1])
    # plain functions and (function, {options}) pairs alike, user functions too
    def halve(image, label, rng, *, factor=0.5):
        return image * factor, label

    pipe = aug.compose(aug.random_flip, (halve, {"factor": 0.25}))
    np.testing.assert_array_equal(pipe(image, label, np.random.default_rng(0))[0],
                                  aug.random_flip(image, label, np.random.default_rng(0))[0] / 4)


def test_compose_refuses_unknown_options_and_wrong_functions_at_once():
    with pytest.raises(ConfigError) as info:
        aug.compose((aug.random_crop, {"sise": 8}))
    assert info.value.name == "sise"
    assert "random_crop" in str(info.value) and "size" in str(info.value)


def test_compose_names_a_missing_required_option():
    with pytest.raises(ConfigError, match=r"random_crop\(\) needs the option 'size'") as info:
        aug.compose(aug.random_crop)
    assert info.value.name == "size"
    with pytest.raises(ConfigError) as info:
        aug.compose(aug.random_flip, (aug.gaussian_noise, {"sigma": 0.1, "max_degrees": 3}))
    assert info.value.name == "max_degrees" and "sigma" in str(info.value)
    with pytest.raises(ConfigError, match="image, label, rng"):
        aug.compose(np.flip)  # f(m, axis): not an augmentation
    with pytest.raises(ConfigError):
        aug.compose((aug.random_flip, [("p", 1)]))  # options must be a mapping


@pytest.mark.parametrize("name, options, bad", [
    ("gaussian_noise", {"sigma": -1}, "sigma"),
    ("random_offset", {"max_offset": float("nan")}, "max_offset"),
    ("gamma_contrast", {"gamma_range": (2.0, 1.0)}, "gamma_range"),
    ("gamma_contrast", {"gamma_range": (0.0, 1.0)}, "gamma_range"),
    ("bias_field", {"order": 2.5}, "order"),
    ("random_flip", {"p": 1.5}, "p"),
    ("random_flip", {"axis": 3}, "axis"),
    ("random_rotation", {"max_degrees": (1, 2)}, "max_degrees"),
    ("random_rotation", {"spacing": (1, 0, 1)}, "spacing"),
    ("elastic", {"control_points": 1}, "control_points"),
    ("elastic", {"spacing": -2}, "spacing"),
    ("random_crop", {"size": (4, 0, 4)}, "size"),
])
def test_bad_option_values_are_config_errors_naming_the_option(name, options, bad):
    image, label = _pair()
    with pytest.raises(ConfigError) as info:
        aug.AUGMENTATIONS[name][1](image, label, np.random.default_rng(0), **options)
    assert info.value.name == bad


# --------------------------------------------------------------------------- physical space
def _blob(shape, spacing, centre_mm, sigma_mm=5.0):
    """A Gaussian blob in physical space on a grid of ``spacing`` mm (z, y, x), centre offset in mm."""
    mm = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    z, y, x = np.meshgrid(*mm, indexing="ij")
    r2 = (z - centre_mm[0]) ** 2 + (y - centre_mm[1]) ** 2 + (x - centre_mm[2]) ** 2
    return np.exp(-r2 / (2 * sigma_mm**2)).astype(np.float32)


def test_rotation_on_anisotropic_voxels_matches_simpleitk_euler3d():
    spacing = (3.0, 1.5, 1.0)  # z, y, x in mm: thick slices
    shape = (27, 53, 81)  # 78 mm along every axis; the blob stays far from the border
    image = _blob(shape, spacing, centre_mm=(8.0, -10.0, 6.0))
    rz, ry, rx = -20.0, 15.0, 25.0  # about z, y, x
    ours, _ = aug.rotate(image, None, (rz, ry, rx), spacing=spacing)
    # reference: SimpleITK resamples the same grid (x, y, z order) through an Euler rotation
    # about the grid's centre. Our matrix in (x, y, z) is Rz(-rz) Ry(-ry) Rx(-rx) (it turns the
    # content); Resample maps output points to input points, so it gets the inverse.
    itk = sitk.GetImageFromArray(image)
    itk.SetSpacing(spacing[::-1])
    centre = itk.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in itk.GetSize()])
    euler = sitk.Euler3DTransform(centre, *np.deg2rad([-rx, -ry, -rz]))
    euler.SetComputeZYX(True)  # matrix = Rz Ry Rx
    reference = sitk.GetArrayFromImage(
        sitk.Resample(itk, itk, euler.GetInverse(), sitk.sitkLinear, 0.0))
    assert np.abs(ours - image).max() > 0.5  # the blob did move
    np.testing.assert_allclose(ours, reference, atol=1e-4)
    # ignoring the spacing (the old voxel-space rotation) is far from it
    voxel_space, _ = aug.rotate(image, None, (rz, ry, rx))
    assert np.abs(voxel_space - reference).max() > 0.3


def test_rotating_a_sphere_on_anisotropic_voxels_keeps_it_a_sphere():
    spacing = (4.0, 1.0, 2.0)
    shape = (17, 65, 33)  # 64 mm along every axis
    mm = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing,
                                                                          strict=True)],
                     indexing="ij")
    sphere = (np.sqrt(sum(c**2 for c in mm)) < 22.0).astype(np.float32)
    rotated, _ = aug.rotate(sphere, None, (30, 20, 40), spacing=spacing)
    inside = rotated > 0.5
    dice = 2 * (inside & (sphere > 0)).sum() / (inside.sum() + sphere.sum())
    assert dice > 0.95
    ignoring, _ = aug.rotate(sphere, None, (30, 20, 40))  # voxel-space: an ellipsoid turns
    wrong = ignoring > 0.5
    assert 2 * (wrong & (sphere > 0)).sum() / (wrong.sum() + sphere.sum()) < 0.85


def test_elastic_displacement_is_in_mm_on_anisotropic_voxels():
    spacing = np.array([3.0, 1.5, 1.0])
    shape = (12, 24, 36)
    z, y, x = (np.indices(shape).astype(np.float32)
               * spacing[:, None, None, None].astype(np.float32))  # positions in mm
    image = 1.0 * z + 10.0 * y + 100.0 * x
    shift_mm = np.array([1.5, -2.0, 0.5], np.float32)
    displacement = np.broadcast_to(shift_mm[:, None, None, None], (3, 3, 3, 3))
    out, _ = aug.deform(image, None, displacement, spacing=spacing)
    inner = (slice(2, -2),) * 3  # away from the border, where samples are clamped
    expected = 1.0 * shift_mm[0] + 10.0 * shift_mm[1] + 100.0 * shift_mm[2]
    np.testing.assert_allclose((out - image)[inner], expected, atol=1e-2)


def test_elastic_with_zero_strength_is_identity():
    image, label = _pair()
    out_image, out_label = aug.elastic(image, label, np.random.default_rng(0), strength=0.0)
    np.testing.assert_allclose(out_image, image, atol=1e-5)
    np.testing.assert_array_equal(out_label, label)


def test_elastic_displacements_are_smooth_and_bounded():
    z = np.indices((30, 30, 30))[0].astype(np.float32)  # image = z coordinate
    out, _ = aug.elastic(z, None, np.random.default_rng(1), strength=1.0)
    shift = (out - z)[6:-6, 6:-6, 6:-6]  # z-displacement, away from the clamped border
    assert 0.3 < np.abs(shift).mean() < 3
    assert np.abs(np.diff(shift, axis=1)).max() < 1.0  # neighbours move together


def test_rotation_matches_scipy_and_rot90():
    rng = np.random.default_rng(0)
    x = rng.random((6, 9, 9)).astype(np.float32)
    ours, _ = aug.rotate(x, None, (17, 0, 0))
    reference = ndimage.rotate(x, 17, axes=(1, 2), reshape=False, order=1, mode="nearest")
    np.testing.assert_allclose(ours[:, 2:-2, 2:-2], reference[:, 2:-2, 2:-2], atol=1e-5)
    cube = rng.random((7, 7, 7)).astype(np.float32)
    for degrees, axes in (((90, 0, 0), (1, 2)), ((0, 90, 0), (2, 0)), ((0, 0, 90), (0, 1))):
        np.testing.assert_allclose(aug.rotate(cube, None, degrees)[0],
                                   np.rot90(cube, 1, axes=axes), atol=1e-5)


# --------------------------------------------------------------------------- each augmentation
def test_flip_twice_is_identity_and_matches_numpy():
    image, label = _pair()
    once = aug.flip_lr(image, label)
    np.testing.assert_array_equal(once[0], image[:, :, ::-1])
    np.testing.assert_array_equal(once[1], label[:, :, ::-1])
    twice = aug.flip_lr(*once)
    np.testing.assert_array_equal(twice[0], image)
    np.testing.assert_array_equal(twice[1], label)
    assert aug.flip_lr(image)[1] is None
    for axis in (3, -1, 1.5, True):
        with pytest.raises(ConfigError) as info:
            aug.flip_lr(image, label, axis=axis)
        assert info.value.name == "axis"


def test_random_crop_cuts_the_same_block_and_needs_its_size_by_name():
    image, label = _pair()
    out_image, out_label = aug.random_crop(image, label, np.random.default_rng(3), size=8)
    assert out_image.shape == (8, 8, 8, 2) and out_label.shape == (8, 8, 8)
    np.testing.assert_array_equal(out_image[..., 0], out_label)
    with pytest.raises(ShapeError, match="does not fit"):
        aug.random_crop(image, label, np.random.default_rng(0), size=(17, 4, 4))
    with pytest.raises(TypeError):  # the old (image, label, size, rng) order is gone
        aug.random_crop(image, label, 8, np.random.default_rng(3))


def test_intensity_augmentations_do_what_they_say():
    rng = np.random.default_rng(0)
    image = rng.gamma(3.0, 10.0, (*SHAPE, 2)).astype(np.float32)
    noisy, _ = aug.gaussian_noise(image, None, np.random.default_rng(1), sigma=0.1)
    np.testing.assert_allclose((noisy - image).std(), 0.1 * image.std(), rtol=0.05)
    shifted, _ = aug.random_offset(image, None, np.random.default_rng(1), max_offset=0.5)
    delta = shifted - image
    for c in range(2):  # one constant offset per channel, within the bound
        assert np.ptp(delta[..., c]) < 1e-3
        assert abs(delta[..., c].mean()) <= 0.5 * image[..., c].std() + 1e-4
    gamma, _ = aug.gamma_contrast(image, None, np.random.default_rng(1))
    np.testing.assert_allclose(gamma.min(axis=(0, 1, 2)), image.min(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gamma.max(axis=(0, 1, 2)), image.max(axis=(0, 1, 2)), rtol=1e-5)
    order = np.argsort(image[..., 0].ravel())  # monotonic: the ranking of voxels is kept
    assert np.all(np.diff(gamma[..., 0].ravel()[order]) >= -1e-4)
    biased, _ = aug.bias_field(image, None, np.random.default_rng(1), strength=0.3)
    field = biased / image
    np.testing.assert_allclose(field[..., 0], field[..., 1], rtol=1e-4)  # one field
    assert np.abs(np.diff(field[..., 0], axis=2)).max() < 0.2  # smooth
    np.testing.assert_allclose(
        aug.bias_field(image, None, np.random.default_rng(1), strength=0.0)[0], image)


def test_bias_field_is_the_exponential_of_a_low_order_polynomial():
    image = np.ones((5, 7, 9), np.float32)
    coefficients = np.zeros((3, 3, 3))
    coefficients[0, 0, 1], coefficients[2, 0, 0], coefficients[1, 1, 0] = 0.2, -0.3, 0.1
    field, _ = aug.apply_bias_field(image, None, coefficients)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in image.shape), indexing="ij")
    np.testing.assert_allclose(field, np.exp(0.2 * x - 0.3 * z**2 + 0.1 * z * y), rtol=1e-5)
    drawn = aug.draw_bias_field(np.random.default_rng(0), strength=0.5, order=2)
    i, j, k = np.indices(drawn.shape)
    assert np.all(drawn[i + j + k > 2] == 0) and np.all(np.abs(drawn) <= 0.5)
    assert np.count_nonzero(drawn) == 10  # the monomials of degree <= 2 in 3 variables


def test_shape_and_rng_errors():
    image, label = _pair()
    with pytest.raises(ShapeError, match="does not match"):
        aug.elastic(image, label[:-1], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="Generator"):
        aug.gaussian_noise(image, label, 42)


def test_label_map_and_image_swapped_are_errors():
    image, label = _pair()
    rng = np.random.default_rng(0)
    for name in INTENSITY:
        with pytest.raises(DataError, match="label map"):
            _run(name, label, None, rng)
    with pytest.raises(DataError, match="label map"):  # would be interpolated linearly
        aug.random_rotation(label, None, rng)
    with pytest.raises(DataError, match="label map"):
        aug.elastic(label, None, rng)
    with pytest.raises(DataError, match="intensity image"):
        aug.random_flip(image, image[..., 1], rng)


def test_upsample_cubic_equals_scipy_zoom():
    coarse = np.random.default_rng(0).normal(size=(5, 4, 6)).astype(np.float32)
    shape = (23, 31, 17)
    reference = ndimage.zoom(coarse, np.divide(shape, coarse.shape), order=3, mode="nearest",
                             grid_mode=True)
    np.testing.assert_allclose(aug.upsample_cubic(coarse, shape), reference, atol=1e-5)


# --------------------------------------------------------------------------- tf.data, cost
def test_map_dataset_parallel_reproducible_and_shapes_restored():
    import tensorflow as tf

    pairs = [_pair(seed=s) for s in range(4)]
    ds = tf.data.Dataset.from_tensor_slices((np.stack([p[0] for p in pairs]),
                                             np.stack([p[1] for p in pairs])))
    pipe = aug.compose(aug.random_flip, aug.gaussian_noise)
    out = aug.map_dataset(ds, pipe, seed=7, num_parallel_calls=2)
    assert out.element_spec[0].shape == (*SHAPE, 2) and out.element_spec[1].shape == SHAPE
    first = [(a.numpy(), b.numpy()) for a, b in out]
    second = [(a.numpy(), b.numpy()) for a, b in out]
    for i, ((a, b), (c, d)) in enumerate(zip(first, second, strict=True)):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
        direct = pipe(pairs[i][0], pairs[i][1], np.random.default_rng([7, i]))
        np.testing.assert_allclose(a, direct[0], atol=1e-6)
        np.testing.assert_array_equal(b, direct[1])
    # a composed crop changes the shape: give the new one
    crop = aug.map_dataset(ds, aug.compose((aug.random_crop, {"size": 8}), aug.random_flip),
                           seed=1, image_shape=(8, 8, 8, 2), label_shape=(8, 8, 8))
    image, label = next(iter(crop.batch(2)))
    assert tuple(image.shape) == (2, 8, 8, 8, 2) and label.dtype == tf.uint8
    np.testing.assert_array_equal(image.numpy()[..., 0], label.numpy())


def test_measure_cost_runs_every_augmentation_with_its_options():
    image, label = _pair()
    rows = aug.measure_cost(image, label, {"random_crop": {"size": 8}}, repeats=1)
    assert [r["augmentation"] for r in rows] == list(aug.AUGMENTATIONS)
    assert all(r["ms_per_volume"] > 0 and r["kind"] in ("intensity", "spatial") for r in rows)
    with pytest.raises(ConfigError) as info:
        aug.measure_cost(image, label, {"random_crop": {"size": 8}, "rotation": {}})
    assert info.value.name == "options"
    with pytest.raises(ConfigError) as info:
        aug.measure_cost(image, label, {"elastic": {"sigma": 1}})
    assert info.value.name == "sigma"


def test_taught_sample_at_reads_images_linearly_and_labels_by_nearest_neighbour():
    """Half a voxel along x: the image is the mean of the two neighbours, the label one of
    them (never a value in between), against numpy's own arithmetic."""
    image = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    label = np.array([0, 3, 0, 3, 0, 3], np.uint8)[None, None].repeat(4, 0).repeat(5, 1)
    coords = np.indices(image.shape, dtype=np.float32)
    coords[2] += 0.5
    out_image, out_label = aug.sample_at(image, label, coords)
    np.testing.assert_allclose(out_image[..., :-1], (image[..., :-1] + image[..., 1:]) / 2)
    assert out_label.dtype == label.dtype and set(np.unique(out_label)) == {0, 3}
    assert ((out_label[..., :-1] == label[..., :-1]) | (out_label[..., :-1] == label[..., 1:])).all()
    channels, none = aug.sample_at(np.stack([image, -image], -1), None, coords)
    assert none is None and np.allclose(channels[..., 1], -out_image)
