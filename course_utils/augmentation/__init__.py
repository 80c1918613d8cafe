"""Data augmentation for 3D volumes (lesson 04): intensity and spatial, reproducible from a seed.

Arrays use the course layout: images ``[z, y, x]`` or ``[z, y, x, C]`` (float),
labels ``[z, y, x]`` (integers). In a volume reoriented to LPS, axis 2 (x) runs
left-right, the axis along which a brain is roughly symmetric.

One contract for every random augmentation::

    random_x(image, label, rng, *, option=...) -> (image, label)

``label`` may be ``None``; options are keyword-only. Each one is split in two
(as TorchIO's ``get_params`` and MONAI's ``randomize``): ``draw_x(rng, ...)``
draws the parameters from a ``numpy.random.Generator`` and nothing else, and
the deterministic ``x(image, label, params)`` applies them to the image and its
labels alike; labels are resampled with nearest neighbour (order 0), so no new
label values appear. Rotations and elastic displacements work in physical space:
give the voxel ``spacing`` (z, y, x in mm) and angles and millimetres stay
correct on anisotropic voxels. :func:`compose` chains augmentations into one
``f(image, label, rng)``; :func:`map_dataset` runs it on the fly inside ``tf.data``.
"""

from course_utils.augmentation.core import upsample_cubic
from course_utils.augmentation.intensity import (
    add_noise,
    add_offset,
    adjust_gamma,
    apply_bias_field,
    bias_field,
    draw_bias_field,
    draw_gamma,
    draw_noise,
    draw_offset,
    gamma_contrast,
    gaussian_noise,
    random_offset,
)
from course_utils.augmentation.pipeline import (
    AUGMENTATIONS,
    check_step,
    compose,
    map_dataset,
    measure_cost,
)
from course_utils.augmentation.spatial import (
    crop,
    deform,
    draw_crop,
    draw_elastic,
    draw_flip,
    draw_rotation,
    elastic,
    flip_lr,
    random_crop,
    random_flip,
    random_rotation,
    rotate,
    sample_at,
)

__all__ = [
    "AUGMENTATIONS", "add_noise", "add_offset", "adjust_gamma", "apply_bias_field", "bias_field",
    "check_step", "compose", "crop", "deform", "draw_bias_field", "draw_crop", "draw_elastic",
    "draw_flip", "draw_gamma", "draw_noise", "draw_offset", "draw_rotation", "elastic", "flip_lr",
    "gamma_contrast", "gaussian_noise", "map_dataset", "measure_cost", "random_crop", "random_flip",
    "random_offset", "random_rotation", "rotate", "sample_at", "upsample_cubic",
]
