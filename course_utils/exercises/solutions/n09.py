"""Worked solutions of notebook 09_representation_learning (shown by exercises.solution; see exercises/_core.py)."""

# %% psnr
x, r = images[held_out][0], reconstructions[0]
answer = 10 * np.log10(np.ptp(x) ** 2 / np.mean((r - x) ** 2))
