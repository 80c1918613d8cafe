"""Exercises of notebook 09 representation learning."""

from __future__ import annotations

from typing import Any

import numpy as np

from course_utils.exercises._core import (
    HIGHER_SAME_LOWER,
    change_first,
    close,
    compare,
    exercise,
    feedback,
    judge_prediction,
)


@exercise
def check_psnr_doubled_error(answer: Any, predicted: np.ndarray, reference: np.ndarray) -> bool:
    """09: the PSNR of ``reference + 2 * (predicted - reference)``: every error twice as large.

    Parameters: ``answer``: that PSNR in dB, worked out from the PSNR of ``predicted``;
    ``predicted``: a reconstruction; ``reference``: its ground truth (its range is the peak).
    """
    reference = np.asarray(reference, dtype=float)
    doubled = reference + 2 * (np.asarray(predicted, dtype=float) - reference)
    expected = 10 * np.log10(np.ptp(reference) ** 2 / np.mean((doubled - reference) ** 2))
    return feedback(
        close(answer, expected, rtol=0, atol=0.02),
        f"{expected:.2f} dB: twice the error is four times the squared error, and PSNR loses "
        "10 log10(4) = 6.02 dB. On PSNR's logarithmic scale a factor on the error is a fixed "
        "number of dB, whatever the image.",
        hint=("Doubling every error multiplies the MSE by what? And what does PSNR's logarithm "
              "turn a factor on the MSE into? Start from this subject's printed PSNR."),
        answer=answer,
    )


@exercise(kind="predict")
def check_code_size(prediction: Any, reference_components: int, reference_psnr: float,
                    n_components: int, changed_psnr: float) -> bool:
    """09: test PSNR of PCA (a linear autoencoder) with ``n_components`` instead of the reference.

    Parameters: ``prediction``: "higher", "same" or "lower"; ``reference_components``,
    ``reference_psnr``: the reference code length and its measured mean test PSNR (dB);
    ``n_components``, ``changed_psnr``: the learner's code length and its measured PSNR.
    """
    verdict = change_first(prediction, n_components == reference_components,
                           f"`n_components = {n_components}`, e.g. 2")
    if verdict is not None:
        return verdict
    truth = compare(changed_psnr, reference_psnr, 0.01)  # dB
    return judge_prediction(
        prediction, truth, HIGHER_SAME_LOWER,
        why=(f"{n_components} components: {changed_psnr:.2f} dB against {reference_psnr:.2f} dB "
             f"with {reference_components}. PCA's codes are nested: k components span a space "
             "that holds the first k - 1, so each scan's projection error can only shrink as k "
             "grows, and a shorter code keeps less detail. An autoencoder's latent_size trades "
             "detail for compression the same way (it needs retraining to see it)."),
        hint=("What does PCA's decoder do with the components a shorter code leaves out? Set "
              "n_components, predict, then run the cell and read the numbers."),
    )


@exercise(kind="predict")
def check_noisy_input(prediction: Any, noise_sd: float, noisy_psnr: float,
                      reconstruction_psnr: float) -> bool:
    """09: which is closer to the clean scan: the noisy scan, or the autoencoder's rebuild of it?

    Parameters: ``prediction``: "reconstruction" or "noisy input"; ``noise_sd``: the
    standard deviation of the added noise (whitened units); ``noisy_psnr``: mean PSNR of
    the noisy scans against the clean ones; ``reconstruction_psnr``: the same for the
    reconstructions of the noisy scans.
    """
    verdict = change_first(prediction, noise_sd == 0, f"`noise_sd = {noise_sd}`, e.g. 1.0")
    if verdict is not None:
        return verdict
    truth = "reconstruction" if reconstruction_psnr > noisy_psnr else "noisy input"
    if truth == "reconstruction":
        why = (f"The reconstruction ({reconstruction_psnr:.1f} dB) beats the noisy scan "
               f"({noisy_psnr:.1f} dB): a code far shorter than the scan cannot describe noise that "
               "differs in every voxel, so the decoder returns a smooth brain and the noise is "
               "mostly gone. Denoising autoencoders are trained on exactly this.")
    else:
        why = (f"With noise_sd = {noise_sd}, the noisy scan ({noisy_psnr:.1f} dB) is still closer "
               f"than the reconstruction ({reconstruction_psnr:.1f} dB): the noise's squared "
               f"error ({noise_sd**2:.2f} per voxel) is smaller than what the bottleneck loses "
               "even on clean scans. Try a larger noise_sd.")
    return judge_prediction(
        prediction, truth, ("reconstruction", "noisy input"), why,
        hint=("Compare two squared errors: the noise adds noise_sd**2 per voxel, and the "
              "autoencoder makes the MSE printed in section 4 on clean scans."),
    )
