"""Exercises of notebook 10 super-resolution."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    _missing,
    _shape,
    change_first,
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
    hint = "How many windows fit along an axis when a new one starts every `factor` voxels?"
    if not _missing(answer) and _shape(answer) != (3,):  # no shape to compare before an answer
        hint = f"{shape_hint(answer, (3,))} {hint}"
    return feedback(
        close(answer, expected),
        f"{tuple(expected)}: one window every {factor} voxels along each axis, however wide "
        f"the window ({2 * factor} voxels here).",
        hint=hint,
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
    verdict = change_first(prediction, order == 1, f"`order = {order}`, e.g. 0")
    if verdict is not None:
        return verdict
    truth = compare(changed_psnr, trilinear_psnr, 0.01)  # dB
    name = ORDER_NAMES.get(int(order), f"order {order}")
    why = {
        "lower": "Nearest neighbour copies each coarse voxel into a block: staircase edges and a "
                 "jump at every block border, so the squared error grows."
                 if int(order) == 0 else "This interpolant fits the coarse voxels less well here.",
        "same": "The two interpolants differ by less than 0.01 dB here.",
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
                        trilinear_psnr: float, clean_gain: float) -> bool:
    """10: with noise added to the low-resolution input, does the network still beat trilinear?

    Parameters: ``prediction``: "yes" or "no"; ``noise_sd``: standard deviation of the
    added noise (whitened units); ``network_psnr``, ``trilinear_psnr``: mean test PSNRs
    (dB) of both from the noisy inputs; ``clean_gain``: the network's gain over trilinear
    (dB) on the clean inputs, measured in section 5.
    """
    verdict = change_first(prediction, noise_sd == 0, f"`noise_sd = {noise_sd}`, e.g. 0.3")
    if verdict is not None:
        return verdict
    gain = network_psnr - trilinear_psnr
    truth = "yes" if gain > 0 else "no"
    why = (f"noise_sd = {noise_sd}: network {network_psnr:.2f} dB, trilinear {trilinear_psnr:.2f} "
           f"dB ({gain:+.2f} dB; on clean inputs {clean_gain:+.2f} dB). ")
    why += ("The network learned to correct the blur of DLTK's pooling; it never saw noise, and "
            "its sharpening correction amplifies it, while trilinear interpolation averages 8 "
            "neighbours and smooths it. A network inverts the degradation it was trained on, "
            "no other." if truth == "no" else
            "Its correction still helps on these inputs; compare the two gains, and try a larger "
            "noise_sd.")
    return judge_prediction(
        prediction, truth, ("yes", "no"), why,
        hint=("The network adds a learned correction to the trilinear image. What was that "
              "correction trained to undo, and what could it do to a disturbance it never saw?"),
    )


@exercise(kind="predict")
def check_ssim_shift(prediction: Any, distortion: str, distorted_ssim: float,
                     noise_ssim: float) -> bool:
    """10: SSIM of a distortion with the noise's squared error (a uniform shift) against the noise's.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``distortion``: "shift" (or
    "noise", unchanged); ``distorted_ssim``, ``noise_ssim``: the measured SSIMs of that
    distortion and of the noise, both against the same target.
    """
    verdict = change_first(prediction, distortion == "noise", '`distortion = "noise"`, to "shift"')
    if verdict is not None:
        return verdict
    truth = compare(distorted_ssim, noise_ssim, 0.005)
    why = {
        "higher": "A uniform shift leaves every window's variances and covariance as they were: "
                  "contrast and structure are intact, and only the luminance factor drops, most "
                  "where the shift is large next to the local mean. Noise of the same size adds "
                  "variance to every window and weakens every correlation.",
        "same": "Both distortions cost SSIM about the same here.",
        "lower": "Here the shift cost more: its luminance factor falls wherever the local mean "
                 "is small next to the shift, and that outweighed what the noise did.",
    }[truth]
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why=(f"{distortion}: SSIM {distorted_ssim:.3f} against the noise's {noise_ssim:.3f}, at "
             f"the same PSNR. {why} PSNR cannot tell them apart; SSIM can."),
        hint=("Which of SSIM's two factors does a uniform shift change, and which does noise "
              "change? In how many windows?"),
    )
