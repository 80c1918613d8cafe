"""course_utils.sampling: uniform and class-balanced patches, absent classes, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from course_utils import sampling
from course_utils.errors import ConfigError, DataError, ShapeError

SHAPE = (20, 24, 22)


def _volume():
    """Image whose 3 channels are the voxel's z, y, x index; labels with a rare class 3."""
    image = np.moveaxis(np.indices(SHAPE), 0, -1).astype(np.float32)
    label = np.zeros(SHAPE, np.uint8)
    label[:, :12] = 1
    label[5:15, 12:, 3:19] = 2
    label[17:19, 2:4, 20:22] = 3  # 8 voxels in a corner: 0.08 % of the volume
    return image, label


def _assert_patches_are_slices(image, label, patches, labels, size):
    for patch, lab in zip(patches, labels, strict=True):
        z, y, x = patch[0, 0, 0].astype(int)  # the image encodes each voxel's position
        block = (slice(z, z + size[0]), slice(y, y + size[1]), slice(x, x + size[2]))
        np.testing.assert_array_equal(patch, image[block])
        np.testing.assert_array_equal(lab, label[block])


def test_random_patches_are_uniform_slices():
    image, label = _volume()
    patches, labels = sampling.random_patches(image, label, 8, 400, np.random.default_rng(0))
    assert patches.shape == (400, 8, 8, 8, 3) and labels.shape == (400, 8, 8, 8)
    _assert_patches_are_slices(image, label, patches[:20], labels[:20], (8, 8, 8))
    corners_z = patches[:, 0, 0, 0, 0]
    counts = np.bincount(corners_z.astype(int), minlength=13)
    assert counts.size == 13 and counts.min() > 10  # every fitting position is drawn
    # a 3D image gets a channel axis; anisotropic patch sizes work
    p, _ = sampling.random_patches(image[..., 0], label, (4, 6, 8), 3, np.random.default_rng(0))
    assert p.shape == (3, 4, 6, 8, 1)


def test_patch_larger_than_volume_is_a_shape_error():
    image, label = _volume()
    for fn in (sampling.random_patches, sampling.balanced_patches):
        with pytest.raises(ShapeError, match="larger than the volume"):
            fn(image, label, (8, 25, 8), 2, np.random.default_rng(0))
    with pytest.raises(ShapeError, match="does not match"):
        sampling.random_patches(image, label[1:], 4, 2, np.random.default_rng(0))


def test_balanced_patches_contain_the_drawn_class_equally_often():
    image, label = _volume()
    patches, labels, classes = sampling.balanced_patch_classes(
        image, label, 6, 800, np.random.default_rng(1))
    _assert_patches_are_slices(image, label, patches[:30], labels[:30], (6, 6, 6))
    for lab, c in zip(labels, classes, strict=True):
        assert np.any(lab == c)
    shares = np.bincount(classes, minlength=4) / 800
    np.testing.assert_allclose(shares, 0.25, atol=0.05)
    # the rare class is far more frequent in balanced patches than in the volume
    uniform = sampling.random_patches(image, label, 6, 800, np.random.default_rng(1))[1]
    balanced_share = sampling.class_frequencies(labels, 4)[3]
    assert balanced_share > 10 * sampling.class_frequencies(label, 4)[3]
    assert balanced_share > 10 * sampling.class_frequencies(uniform, 4)[3]


def test_class_weights_list_and_dict():
    image, label = _volume()
    rng = np.random.default_rng(2)
    _, labels, classes = sampling.balanced_patch_classes(image, label, 4, 50, rng,
                                                         class_weights=[0, 0, 0, 1])
    assert np.all(classes == 3) and all(np.any(lab == 3) for lab in labels)
    _, _, classes = sampling.balanced_patch_classes(image, label, 4, 600, rng,
                                                    class_weights={1: 1, 3: 3}, n_classes=4)
    assert set(classes) == {1, 3}
    np.testing.assert_allclose(np.mean(classes == 3), 0.75, atol=0.06)


def test_absent_class_weight_is_redistributed_or_raises():
    image, label = _volume()
    label[label == 3] = 0  # no lesion in this volume
    rng = np.random.default_rng(3)
    _, _, classes = sampling.balanced_patch_classes(image, label, 4, 600, rng, n_classes=4)
    assert 3 not in classes
    np.testing.assert_allclose(np.bincount(classes, minlength=4)[:3] / 600, 1 / 3, atol=0.06)
    _, _, classes = sampling.balanced_patch_classes(
        image, label, 4, 600, rng, class_weights=[1, 1, 2, 4])
    # the absent class's weight is shared in proportion: 1:1:2 of the present classes
    np.testing.assert_allclose(np.bincount(classes, minlength=4) / 600, [.25, .25, .5, 0],
                               atol=0.06)
    with pytest.raises(DataError, match=r"class\(es\) \[3\]"):
        sampling.balanced_patches(image, label, 4, 5, rng, n_classes=4, missing="raise")
    with pytest.raises(DataError, match="do not occur"):  # every requested class absent
        sampling.balanced_patches(image, label, 4, 5, rng, class_weights=[0, 0, 0, 1])


def test_balanced_bad_arguments():
    image, label = _volume()
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="entries"):
        sampling.balanced_patches(image, label, 4, 2, rng, class_weights=[1, 1], n_classes=4)
    with pytest.raises(ConfigError, match=">= 0"):
        sampling.balanced_patches(image, label, 4, 2, rng, class_weights=[1, -1, 1, 1])
    with pytest.raises(ConfigError, match="missing"):
        sampling.balanced_patches(image, label, 4, 2, rng, missing="ignore")
    with pytest.raises(DataError, match="n_classes"):
        sampling.balanced_patches(image, label, 4, 2, rng, n_classes=3)
    with pytest.raises(DataError, match="intensity image"):  # image passed as labels
        sampling.balanced_patches(image, image[..., 0] + 0.5, 4, 2, rng)


def test_class_frequencies_matches_bincount():
    _, label = _volume()
    freq = sampling.class_frequencies([label, label[:5]], 4)
    counts = np.bincount(np.concatenate([label.ravel(), label[:5].ravel()]), minlength=4)
    np.testing.assert_allclose(freq, counts / counts.sum())


def test_label_map_given_as_image_is_an_error():
    _, label = _volume()
    with pytest.raises(DataError, match="label map"):
        sampling.random_patches(label, label, 4, 2, np.random.default_rng(0))


# Issue #14: learner-facing entry points answer bad input with a course error, never a
# raw numpy error (negative n, a 2-value patch size, a seed for rng, string classes).
@pytest.mark.parametrize("call, error, name", [
    (lambda i, lab, r: sampling.random_patches(i, lab, 4, -1, r), ConfigError, "n"),
    (lambda i, lab, r: sampling.balanced_patches(i, lab, 4, 2.5, r), ConfigError, "n"),
    (lambda i, lab, r: sampling.random_patches(i, lab, (4, 4), 2, r), ConfigError, "patch_size"),
    (lambda i, lab, r: sampling.random_patches(i, lab, "4", 2, r), ConfigError, "patch_size"),
    (lambda i, lab, r: sampling.random_patches(i, lab, 0, 2, r), ConfigError, "patch_size"),
    (lambda i, lab, r: sampling.random_patches(i, lab, 4, 2, "seed"), ConfigError, "rng"),
    (lambda i, lab, r: sampling.balanced_patches(i, lab, 4, 2, r, class_weights={"a": 1}),
     ConfigError, "a class in class_weights"),
    (lambda i, lab, r: sampling.balanced_patches(i, lab, 4, 2, r, class_weights="1111"),
     ConfigError, "class_weights"),
    (lambda i, lab, r: sampling.balanced_patches(i, lab, 4, 2, r, n_classes=0),
     ConfigError, "n_classes"),
    (lambda i, lab, r: sampling.class_frequencies(lab, 0), ConfigError, "n_classes"),
    (lambda i, lab, r: sampling.balanced_patches(i, lab, 30, 2, r), ShapeError, None),
])
def test_bad_arguments_are_course_errors_naming_the_argument(call, error, name):
    image, label = _volume()
    with pytest.raises(error) as info:
        call(image, label, np.random.default_rng(0))
    assert getattr(info.value, "name", None) == name


def test_zero_patches_and_a_seed_for_rng():
    image, label = _volume()
    for fn in (sampling.random_patches, sampling.balanced_patches):
        patches, labels = fn(image, label, (4, 6, 8), 0, np.random.default_rng(0))
        assert patches.shape == (0, 4, 6, 8, 3) and labels.shape == (0, 4, 6, 8)
        a = fn(image, label, 4, 5, 7)[0]  # an integer seed stands for default_rng(seed)
        np.testing.assert_array_equal(a, fn(image, label, 4, 5, np.random.default_rng(7))[0])


def test_taught_balanced_centres_hit_their_class_and_corners_keep_them_inside():
    image, label = _volume()
    counts = np.bincount(label.ravel(), minlength=5)  # class 4 absent
    probs = sampling.class_draw_probabilities(counts, np.ones(5))
    assert probs[4] == 0 and probs[:4] == pytest.approx([0.25] * 4)
    centres, classes = sampling.balanced_centres(label, 400, np.random.default_rng(1), probs)
    assert (label[tuple(centres.T)] == classes).all()  # each centre is a voxel of its class
    assert 4 not in classes and set(classes) == {0, 1, 2, 3}
    size = (8, 6, 10)
    corners = sampling.corners_around(centres, size, SHAPE)
    assert (corners >= 0).all() and (corners + size <= SHAPE).all()  # inside the volume
    assert ((centres >= corners) & (centres < corners + size)).all()  # the centre in the patch
    patches, labels = sampling.cut_patches(image, label, corners, size)
    _assert_patches_are_slices(image, label, patches, labels, size)
    empty = sampling.cut_patches(image, label, np.zeros((0, 3), int), size)
    assert empty[0].shape == (0, *size, 3) and empty[1].shape == (0, *size)
    assert empty[0].dtype == image.dtype and empty[1].dtype == label.dtype
