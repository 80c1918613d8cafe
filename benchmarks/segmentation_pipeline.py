"""Does the input pipeline of lesson 06 keep the U-Net busy? Input wait vs. step time.

    python benchmarks/segmentation_pipeline.py                 # ci preset
    python benchmarks/segmentation_pipeline.py --presets ci binder --steps 20

For each preset, with the notebook's knobs (config "06_segmentation", its
``sequences`` too): the training subjects are loaded and whitened inside a head mask, the class-balanced, augmented
``tf.data`` stream of ``training.balanced_patch_dataset`` is built, and the
preset's residual 3D U-Net is compiled with soft Dice + cross-entropy. Then:

- ``batch alone``: seconds to produce one batch when nothing else runs;
- ``step``: seconds of one training step (``train_on_batch``);
- ``wait``: seconds a training loop blocks on ``next(iterator)`` per step while
  the pipeline prefetches in the background (``training.measure_input_wait``);
- ``wait %``: wait / (wait + step), the share of time the model starves
  (target: under 10%).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import print_table, save_json  # noqa: E402  # benchmarks/_report.py

from course_utils import (  # noqa: E402
    augmentation,
    config,
    data,
    io,
    losses,
    networks,
    pipelines,
    preprocessing,
    training,
)


def measure(preset: str, steps: int) -> dict:
    """Build the preset's pipeline and model; return the timings."""
    import keras

    p = config.resolve("06_segmentation", preset=preset)
    config.seed_everything(p.seed)
    cohort = data.load(p.dataset, preset, standardize=True, progress=False)
    sequences = p.sequences  # the notebook's channels (all three by default)
    n_classes = len(cohort.attrs["label_names"])
    volumes = []
    for _, row in cohort[cohort.split == "train"].iterrows():
        image, label = io.read_subject(row, sequences)  # whitened inside a head mask, as in 06
        head = preprocessing.foreground_mask(image[..., 0])
        volumes.append((preprocessing.whiten(image, mask=head), label))
    augment = augmentation.compose(augmentation.random_flip,
                                   (augmentation.gaussian_noise, {"sigma": 0.05}))
    dataset = training.balanced_patch_dataset(
        volumes, p.patch_size, p.batch_size, n_classes=n_classes, seed=p.seed,
        patches_per_volume=p.patches_per_volume, augment=augment if p.augment else None)
    batch_alone = pipelines.time_per_batch(dataset, n_batches=steps, warmup=2)
    model = networks.residual_unet_3d(n_classes=n_classes, n_channels=len(sequences),
                                      filters=p.filters)
    model.compile(keras.optimizers.Adam(p.learning_rate), loss=losses.DiceCrossEntropy())
    start = time.perf_counter()
    wait = training.measure_input_wait(model, dataset, steps=steps, warmup=3)
    return {"preset": preset, "patch": p.patch_size, "batch": p.batch_size,
            "filters": p.filters, "batch_alone_s": batch_alone, **wait,
            "total_s": time.perf_counter() - start}


def main(argv=None) -> None:
    """Print the table (and optionally write JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["ci"], choices=config.PRESET_NAMES)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = [measure(preset, args.steps) for preset in args.presets]
    print_table(rows, [("preset", "<8", lambda r: r["preset"]),
                       ("patch", ">5", lambda r: r["patch"]),
                       ("batch", ">5", lambda r: r["batch"]),
                       ("batch alone (s)", ">16.3f", lambda r: r["batch_alone_s"]),
                       ("step (s)", ">9.3f", lambda r: r["step_s"]),
                       ("wait (s)", ">9.3f", lambda r: r["wait_s"]),
                       ("wait %", ">7.1f", lambda r: 100 * r["wait_fraction"])])
    save_json(rows, args.json)


if __name__ == "__main__":
    main()
