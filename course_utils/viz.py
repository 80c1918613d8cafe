"""Pictures of 3D images: orthogonal views at their physical aspect, label overlays, an
interactive slice viewer, and training curves (lesson 01, used everywhere).

Arrays follow SimpleITK's numpy order **z, y, x** (optionally a channel axis last);
``spacing`` is in SimpleITK's **x, y, z** order, exactly as ``image.GetSpacing()``
returns it. Views assume the voxel axes point L, P, S (the course's standard
orientation): SimpleITK images are reoriented to LPS before drawing, so axial
views show anterior at the top and the patient's left on the right
(radiological convention), and coronal/sagittal views have superior at the top.
"""

# Over the ~450-line guideline: four short sections (views, viewer, cohort table, curves)
# that share the drawing helpers; each is what lesson 01 points a learner to.

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import SimpleITK as sitk
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from course_utils import checks, io
from course_utils.environment import widgets_available  # viz.widgets_available, as before
from course_utils.errors import ShapeError
from course_utils.io import LABEL_COLOURS, LABEL_NAMES, STANDARD_ORIENTATION  # one definition

VIEWS = ("axial", "coronal", "sagittal")


# =============================================================================
# Inputs
# =============================================================================


def _as_array(image: Any, spacing: Sequence[float] | None, reorient: bool = True):
    """(array z,y,x[,C], spacing x,y,z) from a SimpleITK image or a numpy array."""
    if isinstance(image, sitk.Image):
        io.require_3d(image, "the image to draw")
        if reorient:
            if io.orientation_code(image) != STANDARD_ORIENTATION:
                image = io.reorient(image, STANDARD_ORIENTATION)
        return sitk.GetArrayFromImage(image), tuple(float(s) for s in image.GetSpacing())
    array = np.asarray(image)
    if array.ndim not in (3, 4):
        raise ShapeError(f"expected a 3D volume [z, y, x] (or [z, y, x, C]), got shape "
                         f"{array.shape}")
    if spacing is None:
        spacing = (1.0, 1.0, 1.0)
    values = list(spacing) if isinstance(spacing, (list, tuple, np.ndarray)) else [spacing]
    if len(values) != 3:
        raise ShapeError(f"spacing needs 3 values in x, y, z order, got {spacing}")
    return array, tuple(checks.number(v, "spacing", minimum=0, open_min=True)
                        for v in values)


def label_colormap(n_labels: int | None = None) -> ListedColormap:
    """Colormap of :data:`LABEL_COLOURS` for labels 0..``n_labels``-1 (default: all); 0 clear."""
    n = len(LABEL_COLOURS) if n_labels is None else int(n_labels)
    colours = [to_rgba(LABEL_COLOURS.get(i, "#ffffff")) for i in range(n)]
    colours[0] = (0, 0, 0, 0)
    return ListedColormap(colours, name="course_labels")


def label_legend(ax, label_names: Mapping[int, str] | None = None,
                 labels: Sequence[int] | None = None, **kwargs):
    """Add a legend with one coloured patch per (non-background) label to ``ax`` (or a figure).

    Parameters: ``ax``; ``label_names``, {value: name} (default :data:`LABEL_NAMES`);
    ``labels``, only these values (e.g. those present); ``kwargs`` go to ``ax.legend``.
    """
    names = dict(LABEL_NAMES if label_names is None else label_names)
    keys = sorted(names if labels is None else set(int(v) for v in labels) & set(names))
    handles = [Patch(facecolor=LABEL_COLOURS.get(k, "#ffffff"), edgecolor="none",
                     label=names[k]) for k in keys if k != 0]
    kwargs.setdefault("fontsize", "small")
    kwargs.setdefault("frameon", False)
    return ax.legend(handles=handles, **kwargs)


def _window(array: np.ndarray) -> tuple[float, float]:
    """0.5 and 99.5 percentiles of the finite voxels (a NaN must not blank the picture)."""
    sample = array.ravel()[:: max(1, array.size // 200_000)]
    sample = sample[np.isfinite(sample)]
    if not sample.size:
        return 0.0, 1.0
    low, high = np.percentile(sample, [0.5, 99.5])
    return float(low), float(high if high > low else low + 1)


# =============================================================================
# Orthogonal views
# =============================================================================


def view_slice(array: np.ndarray, spacing: Sequence[float], view: str, index: int):
    """The 2D slice of a z,y,x array for ``view`` and its imshow ``extent`` (mm) and ``origin``.

    Parameters: ``array`` [z, y, x(, C)]; ``spacing`` (x, y, z) mm; ``view``, one of
    :data:`VIEWS`; ``index``, the slice along that view's axis.
    """
    sx, sy, sz = spacing
    nz, ny, nx = array.shape[:3]
    if view == "axial":
        return array[index], (0, nx * sx, ny * sy, 0), "upper"
    if view == "coronal":
        return array[:, index], (0, nx * sx, 0, nz * sz), "lower"
    if view == "sagittal":
        return array[:, :, index], (0, ny * sy, 0, nz * sz), "lower"
    raise ShapeError(f"unknown view {view!r}; choose one of {VIEWS}")


def _three_panels(shape: Sequence[int], spacing: Sequence[float]) -> tuple[Figure, Any]:
    """A figure of three axes whose widths follow the views' physical widths (mm)."""
    nz, ny, nx = shape[:3]
    sx, sy, sz = spacing
    widths = [nx * sx, nx * sx, ny * sy]
    heights = max(ny * sy, nz * sz)
    fig_w = 10.0
    fig_h = float(np.clip(fig_w * heights / sum(widths) + 0.6, 2.0, 6.0))
    return plt.subplots(1, 3, figsize=(fig_w, fig_h), gridspec_kw={"width_ratios": widths})


def _style_axes(ax: Any, ticks: bool) -> None:
    """Millimetre ticks, or none (quicker to draw)."""
    if ticks:
        ax.locator_params(nbins=4)
        ax.tick_params(labelsize="x-small")
        ax.set_xlabel("mm", fontsize="x-small")
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def _overlay_array(label: Any, image: Any, shape: tuple[int, ...], spacing: Sequence[float],
                   reorient: bool) -> np.ndarray:
    """``label`` as an array on the image's grid (``shape``); ShapeError if it is not."""
    if isinstance(image, sitk.Image) and isinstance(label, sitk.Image):
        io.check_same_geometry(label, image, "the label", "the image")
    lab, _ = _as_array(label, spacing, reorient)
    if lab.shape[:3] != shape:
        raise ShapeError(f"label shape {lab.shape} does not match image shape {shape}")
    return lab


def orthogonal_views(
    image: Any,
    label: Any = None,
    *,
    spacing: Sequence[float] | None = None,
    index: Sequence[int] | None = None,
    channel: int = 0,
    alpha: float = 0.4,
    label_names: Mapping[int, str] | None = None,
    title: str | None = None,
    cmap: str = "gray",
    window: tuple[float, float] | None = None,
    axes: Sequence[Any] | None = None,
    legend: bool = True,
    reorient: bool = True,
    ticks: bool = True,
) -> Figure:
    """Axial, coronal and sagittal slices drawn in millimetres, so voxels keep their true shape.

    Parameters: ``image``, a SimpleITK image (spacing from its header, reoriented to LPS)
    or a numpy array ``[z, y, x]``/``[z, y, x, C]`` with ``spacing`` in x, y, z order (mm);
    ``label``, an optional label map on the same grid, overlaid with ``alpha``;
    ``index``, the (z, y, x) voxel the three slices pass through (default: centre);
    ``channel``, the channel drawn from a 4D array; ``label_names`` for the legend
    (``legend`` shows it); ``title`` of the figure; ``cmap`` and ``window`` (low, high;
    default: 0.5-99.5 percentiles) of the grey levels; ``axes``, three axes to draw into;
    ``reorient`` SimpleITK images to LPS; ``ticks``, millimetre ticks (off is quicker).
    """
    array, spacing = _as_array(image, spacing, reorient)
    if array.ndim == 4:
        array = array[..., channel]
    lab = None if label is None else _overlay_array(label, image, array.shape, spacing, reorient)
    nz, ny, nx = array.shape
    if index is None:
        index = (nz // 2, ny // 2, nx // 2)
    index = [int(np.clip(i, 0, n - 1)) for i, n in zip(index, (nz, ny, nx), strict=True)]
    if axes is None:
        fig, axes = _three_panels(array.shape, spacing)
    else:
        fig = axes[0].figure
    vmin, vmax = _window(array) if window is None else window
    n_labels = None if lab is None else max(int(lab.max()) + 1, len(LABEL_COLOURS))
    for ax, view, k in zip(axes, VIEWS, index, strict=True):
        data, extent, origin = view_slice(array, spacing, view, k)
        ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax, extent=extent, origin=origin,
                  aspect="equal", interpolation="nearest")
        if lab is not None and alpha > 0:
            ldata, _, _ = view_slice(lab, spacing, view, k)
            ax.imshow(np.ma.masked_equal(ldata, 0), cmap=label_colormap(n_labels), vmin=0,
                      vmax=n_labels - 1, alpha=alpha, extent=extent, origin=origin,
                      aspect="equal", interpolation="nearest")
        ax.set_title(f"{view} ({'zyx'[VIEWS.index(view)]}={k})", fontsize="small")
        _style_axes(ax, ticks)
    if lab is not None and legend:
        label_legend(axes[-1], label_names, labels=np.unique(lab), loc="upper left",
                     bbox_to_anchor=(1.02, 1.0))
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig


def subject_overview(row: Mapping[str, Any], sequences: Sequence[str] | None = None,
                     label_names: Mapping[int, str] | None = None, alpha: float = 0.4) -> Figure:
    """One row per sequence plus a label-overlay row, three views each, at physical aspect.

    Parameters: ``row``, a cohort row (file paths); ``sequences`` to draw (default: those
    present); ``label_names`` for the legend; ``alpha``, the overlay's opacity.
    """
    if sequences is None:
        sequences = io._present_sequences(row)
    images = {name: io.reorient(io.read_image(row[name]), STANDARD_ORIENTATION)
              for name in sequences}
    label_path = row.get("label") if hasattr(row, "get") else None
    label = None
    if isinstance(label_path, (str, os.PathLike)):
        label = io.reorient(io.read_image(label_path), STANDARD_ORIENTATION)
    first = next(iter(images.values()))
    nx, ny, nz = first.GetSize()
    sx, sy, sz = first.GetSpacing()
    widths = [nx * sx, nx * sx, ny * sy]
    n_rows = len(images) + (label is not None)
    row_h = 10.0 * max(ny * sy, nz * sz) / sum(widths)
    fig, grid = plt.subplots(n_rows, 3, figsize=(10, row_h * n_rows + 0.5), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    for axes, (name, img) in zip(grid, images.items(), strict=False):
        orthogonal_views(img, axes=axes, reorient=False, ticks=False)
        axes[0].set_ylabel(name, fontsize="medium")
    if label is not None:
        base = images.get("t1", first)
        orthogonal_views(base, label, axes=grid[-1], alpha=alpha, label_names=label_names,
                         reorient=False, ticks=False)
        grid[-1][0].set_ylabel("labels", fontsize="medium")
    title = row.get("subject_id") if hasattr(row, "get") else None
    if title is not None:
        fig.suptitle(f"{title} (reoriented to LPS, drawn in mm: spacing "
                     f"{tuple(round(s, 2) for s in first.GetSpacing())})", fontsize="medium")
    fig.subplots_adjust(left=0.05, right=0.85, bottom=0.02, top=0.92, wspace=0.05, hspace=0.2)
    return fig


# =============================================================================
# Interactive slice viewer
# =============================================================================

def _viewer_inputs(image: Any, label: Any, spacing, names):
    """Normalise the viewer's input to ({name: array z,y,x}, label array or None, spacing)."""
    if (not isinstance(image, (np.ndarray, sitk.Image)) and hasattr(image, "get")
            and any(isinstance(image.get(s), (str, os.PathLike)) for s in io.SEQUENCES)):
        # a cohort row (dict or pandas Series)
        row = image
        seqs = names or io._present_sequences(row)
        image = {s: io.read_image(row[s]) for s in seqs}
        label_path = row.get("label") if label is None and hasattr(row, "get") else None
        if isinstance(label_path, (str, os.PathLike)):
            label = io.read_image(label_path)
    if isinstance(image, Mapping):
        volumes = {}
        for name, vol in image.items():
            volumes[str(name)], spacing = _as_array(vol, spacing)
    else:
        array, spacing = _as_array(image, spacing)
        if array.ndim == 4:
            chans = names or [f"channel {c}" for c in range(array.shape[-1])]
            volumes = {str(n): array[..., c] for c, n in enumerate(chans)}
        else:
            volumes = {(names or ["image"])[0]: array}
    first = next(iter(image.values())) if isinstance(image, Mapping) else image
    if isinstance(first, sitk.Image) and isinstance(label, sitk.Image):
        io.check_same_geometry(label, first, "the label", "the image")
    lab = None if label is None else _as_array(label, spacing)[0]
    return volumes, lab, spacing


def _viewer_controls(volumes: Mapping[str, np.ndarray], first_name: str, has_label: bool,
                     alpha: float) -> dict[str, Any]:
    """The viewer's widgets: z, y, x sliders (centred), sequence menu, overlay opacity."""
    import ipywidgets as widgets

    nz, ny, nx = volumes[first_name].shape
    style = {"description_width": "initial"}  # the whole label: "y (coronal)", "sequence"
    layout = widgets.Layout(width="32%")
    return {
        "z": widgets.IntSlider(nz // 2, 0, nz - 1, description="z (axial)", style=style,
                               layout=layout, continuous_update=False),
        "y": widgets.IntSlider(ny // 2, 0, ny - 1, description="y (coronal)", style=style,
                               layout=layout, continuous_update=False),
        "x": widgets.IntSlider(nx // 2, 0, nx - 1, description="x (sagittal)", style=style,
                               layout=layout, continuous_update=False),
        "name": widgets.Dropdown(options=list(volumes), value=first_name,
                                 description="sequence", style=style),
        "opacity": widgets.FloatSlider(alpha if has_label else 0.0, min=0.0, max=1.0,
                                       step=0.05, description="overlay", style=style,
                                       disabled=not has_label, continuous_update=False),
    }


@dataclass
class SliceViewer:
    """The live slice viewer: its widgets (``controls``) and its ``picture``, an ordinary
    image output redrawn in place, so a saved notebook or report still shows the last view
    where the widgets cannot come back ("Error displaying widget: model not found").

    Parameters: ``controls``, the widget box (sliders, sequence menu, overlay opacity);
    ``picture``, the IPython display handle of the image; ``png`` and ``caption``, the image
    shown now and its text; ``displayed``, whether it has been displayed.
    """

    controls: Any
    picture: Any
    png: bytes = b""
    caption: str = ""
    displayed: bool = False

    def _bundle(self) -> dict[str, Any]:
        return {"image/png": self.png, "text/plain": self.caption}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        controls = self.controls._repr_mimebundle_()  # where no widget shows, say what it was
        controls["text/plain"] = ("[slice viewer controls: they move the slices while the "
                                  "notebook runs; below, the last view]")
        display(controls, raw=True)
        self.picture.display(self._bundle(), raw=True)
        self.displayed = True

    def show(self, figure: Figure, caption: str) -> None:
        """Make ``figure`` the picture (redrawn in place once displayed), then close it.

        Parameters: ``figure``, a matplotlib figure; ``caption``, its text (what is shown).
        """
        buffer = BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        plt.close(figure)
        self.png, self.caption = buffer.getvalue(), caption
        if self.displayed:
            self.picture.update(self._bundle(), raw=True)


def slice_viewer(image: Any, label: Any = None, *, spacing: Sequence[float] | None = None,
                 names: Sequence[str] | None = None,
                 label_names: Mapping[int, str] | None = None, alpha: float = 0.4,
                 interactive: bool | None = None, display: bool = True):
    """Browse a volume: a slider per axis, a sequence selector and the overlay's opacity.

    ``image``: a cohort row, a dict ``{name: image}``, a SimpleITK image or an
    array ``[z, y, x(, C)]``. Without a widget front end (papermill, nbval,
    plain Python) it draws one static :func:`orthogonal_views` figure instead and
    returns it; otherwise it displays a :class:`SliceViewer` (widgets, then the picture
    as an ordinary image output that the widgets redraw) and returns it.

    Parameters: ``image`` as above; ``label``, a label map on the same grid (a row's
    own label by default); ``spacing`` (x, y, z) mm for arrays; ``names`` of the
    sequences/channels; ``label_names`` for the legend; ``alpha``, the initial overlay
    opacity; ``interactive``, force widgets on/off (default: :func:`widgets_available`);
    ``display`` the viewer (else only return it).
    """
    volumes, lab, spacing = _viewer_inputs(image, label, spacing, names)
    first_name = next(iter(volumes))
    if interactive is None:
        interactive = widgets_available()
    if not interactive:
        return orthogonal_views(volumes[first_name], lab, spacing=spacing, alpha=alpha,
                                label_names=label_names,
                                title=f"{first_name} (static view: no widget front end)")

    import ipywidgets as widgets
    from IPython.display import DisplayHandle

    windows = {name: _window(vol) for name, vol in volumes.items()}
    controls = _viewer_controls(volumes, first_name, lab is not None, alpha)
    viewer = SliceViewer(widgets.VBox([
        widgets.HBox([controls["z"], controls["y"], controls["x"]]),
        widgets.HBox([controls["name"], controls["opacity"]]),
    ]), DisplayHandle())

    def draw(_change: Any = None) -> None:
        name = controls["name"].value
        z, y, x = (controls[axis].value for axis in "zyx")
        viewer.show(orthogonal_views(volumes[name], lab, spacing=spacing, index=(z, y, x),
                                     alpha=controls["opacity"].value, label_names=label_names,
                                     window=windows[name]),
                    f"slice viewer: {name} at z={z}, y={y}, x={x}")

    draw()
    for control in controls.values():
        control.observe(draw, names="value")
    if display:
        viewer._ipython_display_()
    return viewer


# =============================================================================
# Tables
# =============================================================================


def cohort_table(cohort: Any) -> Any:
    """The cohort as a learner reads it: subject, demographics and split, then file names.

    Each image path is shown relative to the dataset folder (``cohort.attrs["root"]``, e.g.
    ``SYN0001/T1.nii.gz``), or as its bare file name outside it; values are not changed.

    Parameters: ``cohort``, a table from :func:`course_utils.data.load` (or some of its rows).
    """
    from pathlib import Path

    from course_utils.data._common import image_columns

    table = cohort.copy()
    if table.empty:
        return table
    files = image_columns(table.iloc[0], cohort.attrs.get("sequences"))
    root = cohort.attrs.get("root")

    def name(path: Any) -> Any:
        if not isinstance(path, (str, os.PathLike)):
            return path
        if root and Path(path).is_relative_to(root):
            return Path(path).relative_to(root).as_posix()
        return Path(path).name

    table[files] = table[files].map(name)
    table = table[[c for c in table.columns if c not in files] + files]
    return table.set_index("subject_id") if "subject_id" in table else table


# =============================================================================
# Training curves
# =============================================================================


def _history_dict(history: Any) -> dict[str, list[float]]:
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if hasattr(history, "to_dict") and hasattr(history, "columns"):  # pandas DataFrame
        history = {c: history[c].tolist() for c in history.columns}
    if not isinstance(history, Mapping):
        raise ShapeError("plot_history needs a keras History, a dict of lists or a DataFrame; "
                         f"got {type(history).__name__}")
    return {str(k): list(np.asarray(v, dtype=float).ravel()) for k, v in history.items()}


def plot_history(history: Any, metrics: Sequence[str] | None = None,
                 title: str | None = None, logy: bool = False) -> Figure:
    """Training curves: one panel per metric, training and ``val_`` curves together.

    Parameters: ``history``, a Keras History, a dict of lists or a DataFrame; ``metrics``
    to draw (default: all); ``title`` of the figure; ``logy``, a logarithmic y axis.
    """
    values = _history_dict(history)
    epochs = values.pop("epoch", None)
    bases = [k for k in values if not k.startswith("val_")]
    bases += [k[4:] for k in values if k.startswith("val_") and k[4:] not in bases]
    if metrics is not None:
        bases = [m for m in metrics if m in bases]
    if not bases:
        raise ShapeError(f"plot_history: nothing to plot (keys: {sorted(values)})")
    fig, axes = plt.subplots(1, len(bases), figsize=(min(4.0 * len(bases), 14), 3.2),
                             squeeze=False)
    for ax, base in zip(axes[0], bases, strict=True):
        for key, style in ((base, "-"), (f"val_{base}", "--")):
            if key in values and len(values[key]):
                ys = values[key]
                xs = epochs[: len(ys)] if epochs is not None else np.arange(1, len(ys) + 1)
                ax.plot(xs, ys, style, marker="o" if len(ys) < 30 else None, markersize=3,
                        label="validation" if key.startswith("val_") else "training")
        ax.set(title=base, xlabel="epoch")
        if logy:
            ax.set_yscale("log")
        ax.legend(fontsize="small", frameon=False)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
