"""Worked solutions of notebook 10_super_resolution (shown by exercises.solution; see exercises/_core.py)."""

# %% low_res_shape
# one window starts every `factor` voxels: ceil(n / factor) windows per axis
answer = [-(-n // p.factor) for n in (48, 56, 44)]

# %% upsampling_order
# Nearest neighbour (order 0) copies blocks: staircase edges, a larger error than trilinear.
# Order 1 *is* trilinear. (Cubic, order 3: measure it!)
prediction = {0: "lower", 1: "same"}.get(order, "higher")

# %% noisy_low_res
# The network learned to sharpen DLTK's blur and never saw noise: sharpening amplifies noise,
# while trilinear interpolation averages it away. Without noise it is the trained network.
prediction = "yes" if noise_sd == 0 else "no"

# %% ssim_shift
# A shift leaves local variances and covariances untouched (contrast and structure stay 1);
# only luminance drops. Noise of the same MSE disturbs every window's contrast and structure.
prediction = "higher" if distortion == "shift" else "same"
