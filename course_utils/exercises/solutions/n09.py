"""Worked solutions of notebook 09_representation_learning (shown by exercises.solution; see exercises/_core.py)."""

# %% psnr_doubled_error
# Twice the error is 2**2 = 4 times the MSE; PSNR = 10 log10(peak**2 / MSE) loses 10 log10(4) dB.
answer = ae_psnr[0] - 10 * np.log10(2**2)

# %% code_size
# PCA's codes are nested (k components contain the first k - 1), so the projection error of
# a test scan can only grow when the code gets shorter: fewer components, lower PSNR.
prediction = "lower" if n_components < 8 else ("higher" if n_components > 8 else "same")

# %% noisy_input
# The noisy scan's MSE is noise_sd**2. The reconstruction's stays near the clean-scan MSE
# (a short code cannot describe voxel-wise noise), so compare the two.
prediction = "reconstruction" if noise_sd**2 > np.mean(mse) else "noisy input"
