"""MONAI and TorchIO loaders for the I/O benchmark, each in its usual recipe (comparison only:
neither is a dependency of the course; ``pip install torch monai torchio nibabel`` to compare)."""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import Iterator, Sequence

#: name -> (family, keeps a second copy?, description)
TORCH_CONFIGS = {
    "monai": ("monai", False, "MONAI Dataset + DataLoader (.nii.gz)"),
    "torchio": ("torchio", False, "TorchIO SubjectsDataset + Queue (.nii.gz)"),
}
INSTALL = "pip install torch monai torchio nibabel"


def available() -> list[str]:
    """The comparisons whose packages are importable here."""
    return [n for n in TORCH_CONFIGS if importlib.util.find_spec(n) is not None]


def loader(name: str, files: Sequence[str], crop: Sequence[int], batch: int) -> Iterator:
    """Endless whitened batches of random ``crop`` (z, y, x) blocks (the whole volume when
    ``crop`` is its shape) from ``files``, on as many worker processes as there are cores:
    each volume is whitened with its own statistics, then cropped (as DLTK's read_fn)."""
    workers = os.cpu_count() or 1
    if name == "monai":
        from monai.data import DataLoader, Dataset
        from monai.transforms import (
            Compose,
            EnsureChannelFirstd,
            LoadImaged,
            NormalizeIntensityd,
            RandSpatialCropd,
        )

        # MONAI's NIfTI reader returns (x, y, z) arrays: the crop is given in that order
        transform = Compose([LoadImaged("image"), EnsureChannelFirstd("image"),
                             NormalizeIntensityd("image"),
                             RandSpatialCropd("image", roi_size=tuple(crop)[::-1],
                                              random_size=False)])
        data = Dataset([{"image": f} for f in files], transform)
        batches = DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers,
                             persistent_workers=True)
        return (b["image"] for b in itertools.chain.from_iterable(itertools.repeat(batches)))
    import torchio as tio
    from torch.utils.data import DataLoader

    subjects = tio.SubjectsDataset([tio.Subject(image=tio.ScalarImage(f)) for f in files],
                                   transform=tio.ZNormalization())
    queue = tio.Queue(subjects, max_length=4 * batch, samples_per_volume=1,
                      sampler=tio.UniformSampler(tuple(crop)[::-1]), num_workers=workers)
    batches = DataLoader(queue, batch_size=batch, num_workers=0)
    return (b["image"][tio.DATA]
            for b in itertools.chain.from_iterable(itertools.repeat(batches)))
