"""course_utils.viz: physical aspect ratio, overlays, the viewer's fallback, training curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import SimpleITK as sitk  # noqa: E402

from course_utils import io, viz  # noqa: E402
from course_utils.errors import ShapeError  # noqa: E402

SHAPE = (5, 20, 10)  # z, y, x
SPACING = (1.0, 2.0, 4.0)  # x, y, z (SimpleITK order)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _volume(seed=0):
    rng = np.random.default_rng(seed)
    image = rng.random(SHAPE).astype(np.float32)
    label = rng.integers(0, 4, SHAPE).astype(np.uint8)
    return image, label


def test_orthogonal_views_physical_extent_and_aspect():
    image, _ = _volume()
    fig = viz.orthogonal_views(image, spacing=SPACING)
    nz, ny, nx = SHAPE
    sx, sy, sz = SPACING
    # (width, height) in mm of each view, worked out by hand from size * spacing
    expected = {"axial": (nx * sx, ny * sy), "coronal": (nx * sx, nz * sz),
                "sagittal": (ny * sy, nz * sz)}
    fig.canvas.draw()
    for ax, view in zip(fig.axes[:3], viz.VIEWS, strict=True):
        left, right, bottom, top = ax.images[0].get_extent()
        assert (abs(right - left), abs(top - bottom)) == pytest.approx(expected[view])
        assert ax.get_aspect() == 1.0  # 1 mm across == 1 mm up
        box = ax.get_window_extent()  # the drawn box keeps the physical proportions
        assert box.width / box.height == pytest.approx(expected[view][0] / expected[view][1],
                                                       rel=0.02)


def test_orthogonal_views_slices_are_the_right_planes():
    image, _ = _volume()
    fig = viz.orthogonal_views(image, spacing=SPACING, index=(1, 7, 3))
    axial, coronal, sagittal = (ax.images[0].get_array() for ax in fig.axes[:3])
    np.testing.assert_array_equal(axial, image[1])
    np.testing.assert_array_equal(coronal, image[:, 7])
    np.testing.assert_array_equal(sagittal, image[:, :, 3])


def test_sitk_image_is_drawn_in_lps_with_its_spacing():
    image, _ = _volume()
    img = sitk.GetImageFromArray(image)
    img.SetSpacing(SPACING)
    img.SetDirection((0, 0, 1, 1, 0, 0, 0, -1, 0))  # permuted and flipped axes
    fig = viz.orthogonal_views(img)
    lps = io.reorient(img, "LPS")
    ref = sitk.GetArrayFromImage(lps)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), ref[ref.shape[0] // 2])
    sx, sy, _ = lps.GetSpacing()
    left, right, bottom, top = fig.axes[0].images[0].get_extent()
    assert (right - left, bottom - top) == pytest.approx((ref.shape[2] * sx, ref.shape[1] * sy))


def test_label_overlay_and_legend():
    image, label = _volume()
    fig = viz.orthogonal_views(image, label, spacing=SPACING, alpha=0.5)
    assert all(len(ax.images) == 2 for ax in fig.axes[:3])
    overlay = fig.axes[0].images[1]
    assert overlay.get_alpha() == 0.5
    assert np.ma.getmaskarray(overlay.get_array())[label[2] == 0].all()  # background hidden
    legend = fig.axes[2].get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    assert names == [viz.LABEL_NAMES[k] for k in (1, 2, 3)]  # present labels, no background
    colours = [matplotlib.colors.to_hex(h.get_facecolor()) for h in legend.legend_handles]
    assert colours == [viz.LABEL_COLOURS[k] for k in (1, 2, 3)]
    with pytest.raises(ShapeError, match="label shape"):
        viz.orthogonal_views(image, label[:, :5], spacing=SPACING)


def test_slice_viewer_falls_back_to_one_static_figure(monkeypatch):
    image, label = _volume()
    assert viz.widgets_available() is False  # no notebook front end under pytest
    before = len(plt.get_fignums())
    fig = viz.slice_viewer(image[..., None].repeat(2, -1), label, spacing=SPACING,
                           names=["t1", "flair"])
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(plt.get_fignums()) == before + 1
    monkeypatch.setenv("COURSE_WIDGETS", "0")
    assert viz.widgets_available() is False


def test_slice_viewer_widgets():
    image, label = _volume()
    viewer = viz.slice_viewer({"t1": image, "t2": image * 2}, label, spacing=SPACING,
                              interactive=True, display=False)
    import ipywidgets

    controls = [w for hbox in viewer.controls.children for w in hbox.children]
    sliders = [w for w in controls if isinstance(w, ipywidgets.IntSlider)]
    assert [s.max for s in sliders] == [SHAPE[0] - 1, SHAPE[1] - 1, SHAPE[2] - 1]
    dropdown = next(w for w in controls if isinstance(w, ipywidgets.Dropdown))
    assert list(dropdown.options) == ["t1", "t2"]
    opacity = next(w for w in controls if isinstance(w, ipywidgets.FloatSlider))
    assert opacity.value == pytest.approx(0.4) and not opacity.disabled
    first = viewer.png
    assert first.startswith(b"\x89PNG") and viewer.caption.endswith(f"z={SHAPE[0] // 2}, "
                                                                     f"y={SHAPE[1] // 2}, "
                                                                     f"x={SHAPE[2] // 2}")
    plt.close("all")
    sliders[0].value = 1  # redraws the picture without leaving figures behind
    assert viewer.png != first and "t1 at z=1," in viewer.caption
    assert plt.get_fignums() == []


def _until_idle(kc, parent_id: str) -> list[dict]:
    """The iopub messages a kernel sent in answer to request ``parent_id``, up to idle."""
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != parent_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages
        messages.append(msg)


def test_a_saved_viewer_keeps_its_picture_without_a_kernel():
    # Issue #13: after a kernel restart a saved viewer showed "Error displaying widget: model
    # not found" and no picture: the picture lived inside the widgets. A real kernel is
    # driven here as a browser drives it: the picture must be an ordinary image output (what
    # a saved notebook and its HTML keep) that a slider move (a comm message) redraws in place.
    import os

    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**os.environ, "COURSE_WIDGETS": "1"})
    try:
        run = kc.execute("import numpy as np\nfrom course_utils import viz\n"
                         "volume = np.random.default_rng(0).random((5, 20, 10))\n"
                         "viewer = viz.slice_viewer(volume, spacing=(1, 2, 4))\n"
                         "print(viewer.controls.children[0].children[0].model_id)")
        shown = _until_idle(kc, run)
        slider = next(m["content"]["text"].strip() for m in shown if m["msg_type"] == "stream")
        widget, picture = (m["content"] for m in shown if m["msg_type"] == "display_data")
        assert "application/vnd.jupyter.widget-view+json" in widget["data"]
        assert "slice viewer controls" in widget["data"]["text/plain"]  # not a VBox(...) repr
        assert set(picture["data"]) == {"image/png", "text/plain"}
        assert picture["data"]["text/plain"] == "slice viewer: image at z=2, y=10, x=5"
        drag = kc.session.msg("comm_msg", {"comm_id": slider, "data": {
            "method": "update", "state": {"value": 1}, "buffer_paths": []}})
        kc.shell_channel.send(drag)
        moved = _until_idle(kc, drag["header"]["msg_id"])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    update = next(m["content"] for m in moved if m["msg_type"] == "update_display_data")
    assert update["transient"]["display_id"] == picture["transient"]["display_id"]
    assert update["data"]["text/plain"] == "slice viewer: image at z=1, y=10, x=5"
    assert update["data"]["image/png"] != picture["data"]["image/png"]
    assert not [m for m in moved if m["msg_type"] in ("error", "stream", "display_data")]


def test_subject_overview(tmp_path):
    image, label = _volume()
    row = {"subject_id": "sub-7"}
    for seq in io.SEQUENCES:
        img = sitk.GetImageFromArray(image)
        img.SetSpacing(SPACING)
        row[seq] = str(io.write_image(img, tmp_path / f"{seq}.nii.gz"))
    lab = sitk.GetImageFromArray(label)
    lab.SetSpacing(SPACING)
    row["label"] = str(io.write_image(lab, tmp_path / "label.nii.gz"))
    fig = viz.subject_overview(row)
    image_axes = [ax for ax in fig.axes if ax.images]
    assert len(image_axes) == 12  # 3 sequences + labels, 3 views each
    assert sum(len(ax.images) == 2 for ax in image_axes) == 3  # overlays on the last row


def test_plot_history_pairs_training_and_validation():
    history = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0], "dice": [0.1, 0.4, 0.6]}
    fig = viz.plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss", "dice"]
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["training", "validation"]
    np.testing.assert_array_equal(lines[1].get_ydata(), history["val_loss"])
    np.testing.assert_array_equal(lines[0].get_xdata(), [1, 2, 3])

    class History:  # the shape of keras.callbacks.History
        history = {"mae": [5.0, 4.0]}

    assert [ax.get_title() for ax in viz.plot_history(History()).axes] == ["mae"]
    import pandas as pd

    frame = pd.DataFrame({"epoch": [0, 1], "loss": [1.0, 0.5]})
    fig = viz.plot_history(frame)
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [0, 1])
    with pytest.raises(ShapeError):
        viz.plot_history([1, 2, 3])


# --------------------------------------------------------------------------- bad inputs
def test_constants_have_one_definition():
    from course_utils import data, preprocessing

    assert viz.LABEL_NAMES is io.LABEL_NAMES and data.LABEL_NAMES is io.LABEL_NAMES
    assert viz.LABEL_COLOURS is io.LABEL_COLOURS
    assert preprocessing.STANDARD_ORIENTATION is io.STANDARD_ORIENTATION


def test_a_2d_image_is_refused_clearly():
    flat = sitk.GetImageFromArray(np.ones((20, 30), np.float32))
    with pytest.raises(ShapeError, match="2D image.*not a 3D volume"):
        viz.orthogonal_views(flat)


def test_label_on_another_grid_is_refused():
    """Same shape, shifted origin: the overlay would be drawn in the wrong place."""
    from course_utils.errors import DataError

    image, label = _volume()
    img = sitk.GetImageFromArray(image)
    lab = sitk.GetImageFromArray(label)
    lab.SetOrigin((0.0, 0.0, 10.0))
    with pytest.raises(DataError, match=r"the label is not on the voxel grid of the image.*origin"):
        viz.orthogonal_views(img, lab)
    with pytest.raises(DataError, match="not on the voxel grid"):
        viz.slice_viewer(img, lab, interactive=False)


def test_a_nan_voxel_does_not_blank_the_picture():
    image, _ = _volume()
    image[1, 2, 3] = np.nan
    fig = viz.orthogonal_views(image, spacing=SPACING)
    low, high = fig.axes[0].images[0].get_clim()
    assert np.isfinite(low) and np.isfinite(high) and high > low


@pytest.mark.parametrize("bad", [(1.0, 0.0, 1.0), (1.0, -2.0, 1.0), (1.0, float("nan"), 1.0)])
def test_bad_spacing_names_the_argument(bad):
    from course_utils.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        viz.orthogonal_views(_volume()[0], spacing=bad)
    assert err.value.name == "spacing"


def test_cohort_table_shows_names_not_paths(tmp_path):
    # Issue #13: 00's `cohort.head()` was a wall of absolute paths. The table a learner reads
    # names each file inside the dataset folder and leads with subject, age, sex and split.
    from course_utils import data

    cohort = data.load("synthetic", "ci", dest=tmp_path / "cohort", n_subjects=3, workers=1,
                       progress=False)
    before = cohort.copy()
    table = viz.cohort_table(cohort.head(2))
    assert table.index.name == "subject_id" and list(table.index) == ["SYN0001", "SYN0002"]
    assert list(table.columns) == ["age", "sex", "split", "t1", "t1_ir", "t2_flair", "label"]
    assert table.loc["SYN0002", "t2_flair"] == "SYN0002/T2_FLAIR.nii.gz"
    assert table.loc["SYN0001", "label"] == "SYN0001/label.nii.gz"
    assert str(tmp_path) not in table.to_html()
    assert table.loc["SYN0001", "age"] == cohort.loc[0, "age"]  # values unchanged
    assert cohort.equals(before)  # the learner's cohort keeps its paths
    moved = cohort.head(1).assign(t1=str(tmp_path / "elsewhere" / "scan.nii.gz"))
    assert viz.cohort_table(moved).loc["SYN0001", "t1"] == "scan.nii.gz"
