"""Cost of each augmentation per volume, at the binder shape (lesson 04).

    python benchmarks/augmentation_cost.py                    # binder shape, 3 channels
    python benchmarks/augmentation_cost.py --preset ci        # 4 mm volumes
    python benchmarks/augmentation_cost.py --shape 95 117 99 --channels 1 --repeats 5

The volume is the MNI152 template (shipped in nilearn) resampled to the
preset's spacing and cropped/padded to the standardised cohort's shape
(data.synthetic.standard_shape), repeated as C channels, with a 5-class label
map made by thresholding it. No cohort files are needed. Single-threaded
numpy/scipy; inside tf.data, map(num_parallel_calls=AUTOTUNE) runs one per core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_utils import augmentation, config, preprocessing  # noqa: E402


def test_volume(preset: str = "binder", channels: int = 3, shape=None):
    """A [z, y, x, C] float32 volume, a [z, y, x] uint8 label map, and the spacing in mm.

    Parameters: preset, whose spacing is used; channels, copies of the template;
    shape, (z, y, x) voxels, or None for the standardised cohort's shape.
    """
    spacing = config.preset_defaults("04_augmentation", preset)["spacing"]
    template = preprocessing.mni_template(2 if spacing >= 2 else 1)
    template = preprocessing.resample_isotropic(template, spacing)
    if shape is None:
        from course_utils.data import synthetic

        size_xyz = synthetic.standard_shape(spacing)
    else:
        size_xyz = list(reversed(shape))
    template = preprocessing.crop_or_pad(preprocessing.reorient(template, "LPS"), size_xyz)
    t1 = sitk.GetArrayFromImage(template).astype(np.float32)
    label = np.digitize(t1, np.quantile(t1, [0.5, 0.7, 0.85, 0.99])).astype(np.uint8)
    return np.repeat(t1[..., None], channels, axis=-1), label, float(spacing)


def main(argv=None) -> None:
    """Print the table; ``argv`` as on the command line (None: sys.argv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="binder", choices=config.PRESET_NAMES)
    parser.add_argument("--shape", type=int, nargs=3, default=None, help="z y x")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    image, label, spacing = test_volume(args.preset, args.channels, args.shape)
    options = {  # the options of notebook 04; a flip every time, a crop of half the volume
        "random_flip": {"p": 1.0},
        "random_rotation": {"max_degrees": (10.0, 5.0, 5.0), "spacing": spacing},
        "elastic": {"strength": 6.0, "spacing": spacing},
        "random_crop": {"size": tuple(max(1, n // 2) for n in label.shape)},
    }
    rows = augmentation.measure_cost(image, label, options, repeats=args.repeats)
    print(f"augmentation cost per volume: image {image.shape} float32 + label {label.shape} "
          f"uint8, median of {args.repeats}, 1 thread")
    print(f"{'augmentation':<18}{'kind':<11}{'ms/volume':>11}{'volumes/s':>11}")
    for row in rows:
        print(f"{row['augmentation']:<18}{row['kind']:<11}{row['ms_per_volume']:>11.1f}"
              f"{row['volumes_per_s']:>11.1f}")
    total = sum(r["ms_per_volume"] for r in rows)
    print(f"{'all of them':<29}{total:>11.1f}{1000 / total:>11.1f}")


if __name__ == "__main__":
    main()
