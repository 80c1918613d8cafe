"""One source for taught code: each algorithm a notebook teaches is the package's code, verbatim."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import taught  # noqa: E402

# What issue #11 asks to be written where it is taught: notebook -> definitions.
REQUIRED: dict[str, set[str]] = {
    "01": {"course_utils.io._dicom.series_tags", "course_utils.io._dicom.slice_tags",
           "course_utils.io._dicom.write_slices"},
    "02": {"course_utils.pipelines.generator.read_fn",
           "course_utils.pipelines.tfrecords.encode_example",
           "course_utils.pipelines.tfrecords.parse_example",
           "course_utils.pipelines.streaming.read_scaled",
           "course_utils.pipelines.streaming.volume_map"},
    "03": {"course_utils.preprocessing.intensity.whiten",
           "course_utils.preprocessing.intensity.rescale_window",
           "course_utils.preprocessing.spatial.resample_isotropic",
           "course_utils.preprocessing.registration.register_affine",
           "course_utils.preprocessing.registration.registration_method",
           "course_utils.preprocessing.registration.run_registration",
           "course_utils.preprocessing.registration.register_bspline"},
    "04": {"course_utils.augmentation.spatial.flip_lr",
           "course_utils.augmentation.intensity.gaussian_noise",
           "course_utils.augmentation.spatial.elastic",
           "course_utils.augmentation.pipeline.map_dataset"},
    "05": {"course_utils.sampling.balanced_centres",
           "course_utils.losses.soft_dice_loss",
           "course_utils.losses.cross_entropy", "course_utils.metrics.dice_per_class",
           "course_utils.metrics.recall_per_class"},
    "06": {"course_utils.networks._blocks.residual_unit_3d",
           "course_utils.networks.unet.unet_encoder",
           "course_utils.networks.unet.unet_decoder",
           "course_utils.inference.blend_windows",
           "course_utils.inference.resample_probabilities",
           "course_utils.metrics.lesion_counts", "course_utils.metrics.detection_scores"},
    "07": {"course_utils.networks.resnet.resnet_3d_outputs"},
    "09": {"course_utils.networks.autoencoder.autoencoder_3d",
           "course_utils.image_quality.psnr"},
    "10": {"course_utils.networks.super_resolution.super_resolution_3d",
           "course_utils.image_quality.ssim"},
}


def test_every_taught_definition_is_identical_in_the_package():
    report = taught.differences(taught.taught())
    assert not report, "run `python tools/taught.py write`:\n" + "\n\n".join(report)


def test_the_required_algorithms_are_taught_where_the_issue_says():
    found: dict[str, set[str]] = {}
    for item in taught.taught():
        found.setdefault(item.notebook[:2], set()).add(f"{item.module}.{item.name}")
    for notebook, names in REQUIRED.items():
        assert names <= found.get(notebook, set()), (notebook, names - found.get(notebook, set()))


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny repository: one notebook teaching ``scale`` and the module that keeps it."""
    module = tmp_path / "course_utils" / "demo.py"
    module.parent.mkdir()
    module.write_text('"""Demo."""\n\nimport numpy as np\n\nSIZE = 3\nlimit: int = 4\n\n\ndef scale(x):\n'
                      '    """Twice x."""\n    return 2 * np.asarray(x)\n\n\ndef other():\n'
                      '    return 1\n')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Demo"),
                nbformat.v4.new_code_cell(
                    "# Same code as course_utils.demo (tools/taught.py keeps them identical).\n"
                    "import numpy as np\n\n\ndef scale(x):\n    \"\"\"Twice x.\"\"\"\n"
                    "    return 2 * np.asarray(x)\n")]
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)
    return path, module


def test_check_fails_when_the_two_copies_differ_and_write_repairs_it(tmp_path):
    notebook, module = _copy(tmp_path)
    items = taught.taught([notebook])
    assert [(i.module, i.name) for i in items] == [("course_utils.demo", "scale")]
    assert taught.differences(items, tmp_path) == []
    module.write_text(module.read_text().replace("2 * np", "3 * np"))
    report = taught.differences(items, tmp_path)
    assert len(report) == 1 and "-    return 3 * np" in report[0] and "+    return 2 * np" in report[0]
    assert taught.write(items, tmp_path) == ["course_utils.demo.scale"]
    assert taught.differences(items, tmp_path) == []
    assert "def other():\n    return 1\n" in module.read_text()  # the rest of the module is kept


def test_a_definition_missing_from_the_package_is_reported_then_appended(tmp_path):
    notebook, module = _copy(tmp_path)
    module.write_text('"""Demo."""\n')
    items = taught.taught([notebook])
    assert "is missing from" in taught.differences(items, tmp_path)[0]
    taught.write(items, tmp_path)
    assert taught.differences(items, tmp_path) == []


def test_a_taught_cell_holds_only_definitions(tmp_path):
    notebook, _ = _copy(tmp_path)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[1].source += "\nprint(scale(3))\n"
    nbformat.write(nb, notebook)
    with pytest.raises(ValueError, match="only imports and definitions"):
        taught.taught([notebook])


def test_the_command_line_reports_and_exits_nonzero_on_a_difference(tmp_path, capsys):
    assert taught.main(["nonsense"]) == 2
    assert taught.main(["list"]) == 0
    shutil.rmtree(tmp_path, ignore_errors=True)
