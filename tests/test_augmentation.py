"""course_utils.augmentation: flips, rotations, elastic, crops, intensity, tf.data wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from course_utils import augmentation as aug
from course_utils.errors import ConfigError, ShapeError

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


SPATIAL = {
    "random_flip": lambda im, lb, rng: aug.random_flip(im, lb, rng, p=1.0),
    "random_rotation": lambda im, lb, rng: aug.random_rotation(im, lb, rng, max_degrees=25),
    "elastic": lambda im, lb, rng: aug.elastic(im, lb, rng, strength=2.0),
    "random_crop": lambda im, lb, rng: aug.random_crop(im, lb, (9, 10, 11), rng),
}
INTENSITY = {
    "gaussian_noise": aug.gaussian_noise,
    "random_offset": aug.random_offset,
    "gamma_contrast": aug.gamma_contrast,
    "bias_field": aug.bias_field,
}


# --------------------------------------------------------------------------- flips
def test_flip_twice_is_identity_and_matches_numpy():
    image, label = _pair()
    once = aug.flip_lr(image, label)
    np.testing.assert_array_equal(once[0], image[:, :, ::-1])
    np.testing.assert_array_equal(once[1], label[:, :, ::-1])
    twice = aug.flip_lr(*once)
    np.testing.assert_array_equal(twice[0], image)
    np.testing.assert_array_equal(twice[1], label)
    assert aug.flip_lr(image)[1] is None
    with pytest.raises(ConfigError, match="spatial axis"):
        aug.flip_lr(image, label, axis=3)


# --------------------------------------------------------------------------- spatial
@pytest.mark.parametrize("name", SPATIAL)
def test_spatial_keeps_label_set_and_moves_image_and_labels_together(name):
    image, label = _pair()
    out_image, out_label = SPATIAL[name](image, label, np.random.default_rng(5))
    assert out_label.dtype == label.dtype
    assert out_image.shape[:3] == out_label.shape and out_image.shape[3] == 2
    assert set(np.unique(out_label)) <= set(np.unique(label))  # nearest neighbour: no new values
    # channel 0 of the image is the label map: wherever the linearly interpolated image is
    # (almost) a whole number, the nearest-neighbour label must agree: the same draw was used
    clean = np.isclose(out_image[..., 0], np.round(out_image[..., 0]), atol=1e-3)
    agree = out_label[clean] == np.round(out_image[..., 0][clean])
    assert clean.mean() > 0.5 and agree.mean() > 0.97


@pytest.mark.parametrize("name", list(SPATIAL) + list(INTENSITY))
def test_reproducible_from_seed(name):
    image, label = _pair()

    def run(seed):
        rng = np.random.default_rng(seed)
        if name in SPATIAL:
            return SPATIAL[name](image, label, rng)[0]
        return INTENSITY[name](image, rng)

    np.testing.assert_array_equal(run(11), run(11))
    if name != "random_flip":  # p=1: every seed flips
        assert not np.array_equal(run(11), run(12))


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


def test_random_crop_cuts_the_same_block_from_image_and_labels():
    image, label = _pair()
    out_image, out_label = aug.random_crop(image, label, 8, np.random.default_rng(3))
    assert out_image.shape == (8, 8, 8, 2) and out_label.shape == (8, 8, 8)
    np.testing.assert_array_equal(out_image[..., 0], out_label)
    with pytest.raises(ShapeError, match="does not fit"):
        aug.random_crop(image, label, (17, 4, 4), np.random.default_rng(0))


def test_shape_and_rng_errors():
    image, label = _pair()
    with pytest.raises(ShapeError, match="does not match"):
        aug.elastic(image, label[:-1], np.random.default_rng(0))
    with pytest.raises(ConfigError, match="Generator"):
        aug.gaussian_noise(image, 42)


# --------------------------------------------------------------------------- intensity
def test_intensity_augmentations_do_what_they_say():
    rng = np.random.default_rng(0)
    image = rng.gamma(3.0, 10.0, (*SHAPE, 2)).astype(np.float32)
    noisy = aug.gaussian_noise(image, np.random.default_rng(1), sigma=0.1)
    np.testing.assert_allclose((noisy - image).std(), 0.1 * image.std(), rtol=0.05)
    shifted = aug.random_offset(image, np.random.default_rng(1), max_offset=0.5)
    delta = shifted - image
    for c in range(2):  # one constant offset per channel, within the bound
        assert np.ptp(delta[..., c]) < 1e-3
        assert abs(delta[..., c].mean()) <= 0.5 * image[..., c].std() + 1e-4
    gamma = aug.gamma_contrast(image, np.random.default_rng(1))
    np.testing.assert_allclose(gamma.min(axis=(0, 1, 2)), image.min(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gamma.max(axis=(0, 1, 2)), image.max(axis=(0, 1, 2)), rtol=1e-5)
    order = np.argsort(image[..., 0].ravel())  # monotonic: the ranking of voxels is kept
    assert np.all(np.diff(gamma[..., 0].ravel()[order]) >= -1e-4)
    biased = aug.bias_field(image, np.random.default_rng(1), strength=0.3)
    field = biased / image
    np.testing.assert_allclose(field[..., 0], field[..., 1], rtol=1e-4)  # one field
    assert np.abs(np.diff(field[..., 0], axis=2)).max() < 0.2  # smooth
    np.testing.assert_allclose(aug.bias_field(image, np.random.default_rng(1), strength=0.0),
                               image)


def test_compose_draws_in_order_from_one_rng():
    image, label = _pair()
    pipe = aug.compose(aug.random_flip, (aug.gaussian_noise, {"sigma": 0.2}))
    a = pipe(image, label, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    expected = aug.random_flip(image, label, rng)
    expected = (aug.gaussian_noise(expected[0], rng, sigma=0.2), expected[1])
    np.testing.assert_array_equal(a[0], expected[0])
    np.testing.assert_array_equal(a[1], expected[1])
    with pytest.raises(ConfigError, match="does not know"):
        aug.compose(np.flip)


# --------------------------------------------------------------------------- tf.data
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
    # a crop changes the shape: give the new one
    crop = aug.map_dataset(ds, lambda im, lb, rng: aug.random_crop(im, lb, 8, rng), seed=1,
                           image_shape=(8, 8, 8, 2), label_shape=(8, 8, 8))
    image, label = next(iter(crop.batch(2)))
    assert tuple(image.shape) == (2, 8, 8, 8, 2) and label.dtype == tf.uint8


def test_upsample_cubic_equals_scipy_zoom():
    coarse = np.random.default_rng(0).normal(size=(5, 4, 6)).astype(np.float32)
    shape = (23, 31, 17)
    reference = ndimage.zoom(coarse, np.divide(shape, coarse.shape), order=3, mode="nearest",
                             grid_mode=True)
    np.testing.assert_allclose(aug.upsample_cubic(coarse, shape), reference, atol=1e-5)


def test_exercise_check_flip_pair(capsys):
    from course_utils import exercises

    image, label = _pair()
    assert exercises.check_flip_pair(aug.flip_lr(image, label), image, label)
    assert not exercises.check_flip_pair((np.flip(image, 2), label), image, label)
    assert "labels are not" in capsys.readouterr().out
    assert not exercises.check_flip_pair(aug.flip_lr(image, label, axis=1), image, label)


def test_label_map_and_image_swapped_are_errors():
    from course_utils.errors import DataError

    image, label = _pair()
    rng = np.random.default_rng(0)
    for fn in INTENSITY.values():
        with pytest.raises(DataError, match="label map"):
            fn(label, rng)
    with pytest.raises(DataError, match="label map"):  # would be interpolated linearly
        aug.random_rotation(label, None, rng)
    with pytest.raises(DataError, match="label map"):
        aug.elastic(label, None, rng)
    with pytest.raises(DataError, match="intensity image"):
        aug.random_flip(image, image[..., 1], rng)
