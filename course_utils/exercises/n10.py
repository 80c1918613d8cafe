"""Exercises of notebook 10 super-resolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    close,
    compare,
    exercise,
    feedback,
    judge_prediction,
    shape_hint,
)

ORDER_NAMES = {0: "nearest neighbour", 1: "trilinear", 2: "quadratic B-spline", 3: "cubic B-spline"}


@exercise
def check_low_res_shape(answer: Any, shape: Sequence[int], factor: int) -> bool:
    """10: the spatial shape of a volume after ``low_resolution`` by ``factor`` (DLTK's pooling).

    Parameters: ``answer``: three sizes; ``shape``: the high-resolution shape;
    ``factor``: the pooling stride.
    """
    expected = [-(-int(n) // int(factor)) for n in shape[:3]]  # "same" padding: ceil(n / factor)
    return feedback(
        close(answer, expected),
        f"{tuple(expected)}: one window every {factor} voxels along each axis, however wide "
        f"the window ({2 * factor} voxels here).",
        hint=shape_hint(answer, (3,)) + " How many windows fit along an axis when a new one "
                                        "starts every `factor` voxels?",
        answer=answer,
    )


@exercise(kind="predict")
def check_upsampling_order(prediction: Any, order: int, changed_psnr: float,
                           trilinear_psnr: float) -> bool:
    """10: test PSNR of spline interpolation of ``order`` against trilinear (order 1).

    Parameters: ``prediction``: "higher", "same" or "lower"; ``order``: the spline order
    used (0 nearest neighbour, 1 trilinear, 3 cubic); ``changed_psnr``, ``trilinear_psnr``:
    the measured mean test PSNRs in dB.
    """
    truth = compare(changed_psnr, trilinear_psnr, 0.01)  # dB
    name = ORDER_NAMES.get(int(order), f"order {order}")
    why = {
        "lower": "Nearest neighbour copies each coarse voxel into a block: staircase edges and a "
                 "jump at every block border, so the squared error grows."
                 if int(order) == 0 else "This interpolant fits the coarse voxels less well here.",
        "same": "Order 1 is trilinear interpolation itself: nothing changed." if int(order) == 1
                else "The two interpolants differ by less than 0.01 dB here.",
        "higher": "A smoother, wider interpolant follows the anatomy's gentle intensity changes "
                  "better than straight lines between neighbours; it still cannot invent detail.",
    }[truth]
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why=f"{name}: {changed_psnr:.2f} dB against trilinear's {trilinear_psnr:.2f} dB. {why}",
        hint=("Picture one edge of the ventricles on the coarse grid, then filled in on the fine "
              "grid by this interpolant. Which fine voxels end up far from the truth?"),
    )


@exercise(kind="predict")
def check_noisy_low_res(prediction: Any, noise_sd: float, network_psnr: float,
                        trilinear_psnr: float) -> bool:
    """10: with noise added to the low-resolution input, does the network still beat trilinear?

    Parameters: ``prediction``: "yes" or "no"; ``noise_sd``: standard deviation of the
    added noise (whitened units); ``network_psnr``, ``trilinear_psnr``: mean test PSNRs
    (dB) of both from the noisy inputs.
    """
    gain = network_psnr - trilinear_psnr
    truth = "yes" if gain > 0 else "no"
    why = (f"noise_sd = {noise_sd}: network {network_psnr:.2f} dB, trilinear {trilinear_psnr:.2f} "
           f"dB ({gain:+.2f} dB). ")
    why += ("The network learned to sharpen what DLTK's pooling blurred; it never saw noise, and "
            "sharpening amplifies it, while trilinear interpolation averages 8 neighbours and "
            "smooths it. A network inverts the degradation it was trained on, no other."
            if truth == "no" else
            "Its correction still helps on these inputs; compare the gain with the one on clean "
            "inputs, and try a larger noise_sd.")
    return judge_prediction(
        prediction, truth, ("yes", "no"), why,
        hint=("What did the network learn to do to the trilinear image: smooth it or sharpen it? "
              "And what does each of those do to noise it never saw during training?"),
    )
