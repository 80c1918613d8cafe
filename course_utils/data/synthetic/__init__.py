r"""The synthetic cohort: multi-sequence brain MR with labels and demographics, offline.

Every subject is drawn from the MNI152 (ICBM 2009a symmetric) T1 template and its
grey/white-matter probability maps that ship inside the nilearn wheel; CSF is
what is left inside the brain mask (``CSF = clip(mask - GM - WM, 0, 1)``). Nothing
is downloaded. Each subject ``i`` has its own random stream
``numpy.random.default_rng([seed, i])``, so subjects can be generated in any order,
in parallel, and the same seed always gives identical arrays and headers.
The published norms the cohort follows (and every number a notebook quotes) are
in :mod:`course_utils.data.synthetic.norms`; sources in data/README.md.

What age and sex do to the anatomy (the signal the lessons 07/08 learn)
------------------------------------------------------------------------
Notation: ``age`` in years (uniform on 20-86), ``male = +1`` for men and ``-1`` for
women, ``N(m, s)`` a normal draw.

* **Size (sex).** The head is scaled about the brain centre by
  ``S = (ICV_ML / template ICV)**(1/3) * exp(SEX_SCALE * male + N(0, SCALE_SD))``
  (``SEX_SCALE`` 0.021, ``SCALE_SD`` 0.025): the template
  (1,900 ml inside its mask, larger than an average head) is brought to the adult mean
  ICV of 1,450 ml; men are ~13 % larger by volume on average, with overlap.
* **Biological age.** ``bio = age + N(0, BIOLOGICAL_AGE_SD_YEARS)`` (5 years) drives
  atrophy; lesions follow the calendar age.
* **Ventricles (age).** The backward map is pushed towards the ventricles by
  ``alpha * grad(G_4mm * V)``, ``alpha = min(30 + 120 * (bio - 20) / 66, 170)`` mm^2 (never folds).
* **Atrophy to the norms (age).** Grey and white matter become CSF from their CSF
  side (a share ``min(g * C, 0.9)``, ``C`` the CSF or background within ~2 mm, ``g``
  solved per subject) until they fill ``norms.grey_fraction(bio) + N(0, 0.006)`` and
  ``norms.white_fraction(bio) + N(0, 0.005)`` of the subject's intracranial volume.
* **White-matter hyperintensities (age).** Volume ``norms.wmh_median_ml(age) *
  exp(N(0, 0.9))`` ml (0.25 ml at 20, ~10 ml at 80, heavy-tailed). Shape: smooth noise
  (3 mm and 1.5 mm) over a prior (caps at the ventricular horns, a periventricular band,
  deep white matter), cut at the level that leaves that volume; soft edges. They
  replace white matter.
* **Shape.** A smooth random displacement (cubic B-spline on a 20 mm control grid,
  2 mm standard deviation per component) makes every brain unique.

Sequences, labels and headers
-----------------------------
Tissue fractions (partial volume) are rendered into three sequences with the
per-tissue means of ``CONTRASTS`` (relative to white matter; lesions mildly dark on
T1, bright on FLAIR). Each subject gets its own contrast (each mean times
``1 + N(0, 0.04)``), gain, a smooth multiplicative bias field (``exp`` of a smooth
field, sd 0.1) and Rician noise (sd 2-4 % of white matter). Images are int16
(white matter ~1000), skull-stripped. Labels (0 background, 1 CSF, 2 GM, 3 WM,
4 lesion) are the argmax of class-weighted fractions whose weights make every
label's volume equal its tissue volume (:func:`labels`).

Headers vary like real acquisitions: some subjects have anisotropic voxels (one
axis 1.5x thicker), a field of view shifted by up to 2 voxels, and an
orientation other than LPS (RAS, sagittal PIL, coronal LIP, RPI). The anatomy
stays at the same physical place: only the voxel grid changes, so
``load(..., standardize=True)`` recovers one common LPS grid.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from course_utils import checks, config
from course_utils.data import _cache, _common
from course_utils.data.synthetic import norms
from course_utils.data.synthetic._anatomy import (
    ORIENTATIONS,
    SCALE_SD,
    SEX_SCALE,
    atrophy,
    fractions,
    head_scale,
    labels,
    render_lesions,
    subject_parameters,
    ventricle_push,
)
from course_utils.data.synthetic._render import CONTRASTS, SEQUENCES, render_sequences
from course_utils.data.synthetic._template import MARGIN_MM, canonical_grid, prepare_template
from course_utils.data.synthetic.norms import BIOLOGICAL_AGE_SD_YEARS
from course_utils.files import atomic_path

__all__ = ["BIOLOGICAL_AGE_SD_YEARS", "CONTRASTS", "FILE_NAMES", "GENERATOR_VERSION", "MARGIN_MM",
           "OPTIONS", "ORIENTATIONS", "SCALE_SD", "SEQUENCES", "SEX_SCALE", "atrophy", "cache_key", "canonical_grid",
           "generate_subject", "head_scale", "labels", "load", "norms", "prepare_template",
           "render_lesions", "resolve_options", "standard_shape", "subject_parameters",
           "ventricle_push", "worker_mb"]

# Bump whenever generated images or demographics change: caches of another version are regenerated.
GENERATOR_VERSION = 4
FILE_NAMES = {"t1": "T1.nii.gz", "t1_ir": "T1_IR.nii.gz", "t2_flair": "T2_FLAIR.nii.gz",
              "label": "label.nii.gz"}
OPTIONS = ("n_subjects", "spacing", "seed", "workers")


def generate_subject(task: dict[str, Any]) -> dict[str, Any]:
    """Generate one subject's images and label, write them atomically, return its row.

    Parameters: ``task`` with ``subject_id``, ``out_dir``, ``spacing`` (mm) and
    ``params`` (from :func:`subject_parameters`).
    """
    spacing, p = task["spacing"], task["params"]
    tpl = prepare_template(spacing)
    rng = np.random.default_rng(p["stream"])  # draws in a fixed order: lesions, shape, images
    lesion_map = render_lesions(rng, tpl, p)
    # acquisition grid (identity direction for now), centred on the brain +- shift
    voxel = np.array(p["voxel"])
    size = np.ceil(np.array(tpl["shape"]) * spacing / voxel).astype(int)
    origin = tpl["centre"] + np.array(p["shift_voxels"]) * spacing - (size - 1) / 2.0 * voxel
    axes = [origin[a] + voxel[a] * np.arange(size[a]) for a in range(3)]
    tissue = fractions(rng, tpl, p, axes, lesion_map)
    del lesion_map
    label = labels(tissue)
    images = render_sequences(rng, tissue, axes)
    del tissue

    out_dir = Path(task["out_dir"])
    row = {"subject_id": task["subject_id"]}
    for key, array in [*images.items(), ("label", label)]:
        image = sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0)))
        image.SetSpacing([float(v) for v in voxel])
        image.SetOrigin([float(v) for v in origin])
        image = sitk.DICOMOrient(image, p["orientation"])  # lossless: header changes only
        row[key] = str(_common.write_image(image, out_dir / FILE_NAMES[key]))
    _common.write_done(out_dir, [Path(v) for k, v in row.items() if k != "subject_id"])
    return row


# ---------------------------------------------------------------------------
# The cohort
# ---------------------------------------------------------------------------


def resolve_options(preset: str, options: dict[str, Any]) -> dict[str, Any]:
    """Merge ``options`` over the preset's common knobs; reject unknown ones."""
    _cache.check_option_names(options, OPTIONS, "synthetic")
    common = config.COMMON[preset]

    def value(key: str) -> Any:
        return common[key] if options.get(key) is None else options[key]

    return {"n_subjects": checks.integer(value("n_subjects"), "n_subjects", minimum=1,
                                         maximum=100_000),
            "spacing": checks.number(value("spacing"), "spacing", minimum=0.5, maximum=8.0),
            "seed": checks.integer(value("seed"), "seed", minimum=0),
            "workers": _cache.workers_option(options.get("workers"))}


def cache_key(preset: str, params: dict[str, Any]) -> str:
    """The cache folder name: the preset's name if ``params`` are its defaults, else them."""
    common = config.COMMON[preset]
    if all(params[k] == common[k] for k in ("n_subjects", "spacing", "seed")):
        return preset
    return f"n{params['n_subjects']}_sp{params['spacing']:g}mm_seed{params['seed']}"


def load(preset: str, *, dest: Path | None = None, progress: bool = True,
         **options: Any) -> pd.DataFrame:
    """Generate (or reuse) the synthetic cohort and return its subject table (raw files).

    Parameters: ``preset``, ``"ci"``, ``"binder"`` or ``"full"``; ``dest``, the folder to
    write (default: the cache); ``progress``, print progress; ``options``, see :data:`OPTIONS`.
    """
    opts = resolve_options(preset, options)
    spacing = opts["spacing"]
    params = {"generator": GENERATOR_VERSION, "n_subjects": opts["n_subjects"],
              "spacing": spacing, "seed": opts["seed"]}
    root = Path(dest) if dest is not None else config.data_dir() / "synthetic" / cache_key(
        preset, params)
    ids = [f"SYN{i + 1:04d}" for i in range(opts["n_subjects"])]
    subj = [subject_parameters(opts["seed"], i, spacing) for i in range(opts["n_subjects"])]

    _cache.build_once(root, params, lambda: _generate(root, params, ids, subj, opts, progress))

    table = _common.read_demographics(root / "demographics.csv")
    rows = []
    for sid in ids:
        row = {"subject_id": sid}
        row.update({k: str(root / sid / FILE_NAMES[k]) for k in (*SEQUENCES, "label")})
        rows.append(row)
    df = pd.DataFrame(rows)
    demo = table.set_index(table["IXI_ID"].astype(int))
    ixi = [int(s[3:]) for s in ids]
    df["age"] = demo.loc[ixi, "AGE"].astype(float).to_numpy()
    df["sex"] = [_common.sex_from_code(c) for c in demo.loc[ixi, "SEX_ID (1=m, 2=f)"]]
    df["split"] = _common.assign_splits(list(df["sex"]), list(df["age"]), ids)
    df.attrs.update(name="synthetic", sequences=list(SEQUENCES), spacing=spacing,
                    root=str(root), seed=opts["seed"])
    return df


def _generate(root: Path, params: dict[str, Any], ids: list[str], subj: list[dict[str, Any]],
              opts: dict[str, Any], progress: bool) -> None:
    """Write the cohort into ``root``: subjects in parallel, then demographics, manifest last."""
    started = _common.read_json(root / "params.json")
    if started != params:  # a different (or no) earlier run of ours: start afresh
        _common.reset_folder(root)
        _common.write_json(root / "params.json", params)
    todo = []
    for sid, p in zip(ids, subj, strict=True):
        if _common.done_ok(root / sid):  # completed by an interrupted run, unchanged since
            continue
        todo.append({"subject_id": sid, "out_dir": str(root / sid), "spacing": params["spacing"],
                     "params": p})
    _cache.parallel_map(generate_subject, todo, workers=opts.get("workers"), progress=progress,
                        desc=f"synthetic {root.name}", worker_mb=worker_mb(params["spacing"]))
    demo = pd.DataFrame({
        "IXI_ID": [int(s[3:]) for s in ids],
        "SEX_ID (1=m, 2=f)": [1 if p["sex"] == "M" else 2 for p in subj],
        "AGE": [p["age"] for p in subj],
    })
    with atomic_path(root / "demographics.csv") as tmp:
        demo.to_csv(tmp, index=False)
    files = [root / sid / name for sid in ids for name in (*FILE_NAMES.values(), "done.json")]
    files += [root / "demographics.csv", root / "params.json"]
    _common.write_json(root / _common.MANIFEST, {
        "params": params,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z") + f"/{time.time_ns()}",
        "files": _common.file_entries(root, files),
        "subjects": {sid: {k: p[k] for k in ("orientation", "voxel", "shift_voxels")}
                     for sid, p in zip(ids, subj, strict=True)},
    })


def worker_mb(spacing: float) -> float:
    """Peak MB of one generating process at ``spacing`` mm; measured: 362 at 4, 427 at 2."""
    return 350.0 + 110.0 * float(np.prod(canonical_grid(float(spacing))["shape"])) / 1e6


def standard_shape(spacing: float) -> list[int]:
    """The common shape (x, y, z) of the standardized cohort at ``spacing``."""
    return [int(n) for n in canonical_grid(float(spacing))["shape"]]
