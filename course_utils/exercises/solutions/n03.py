"""Worked solutions of notebook 03_normalization (shown by exercises.solution; see exercises/_core.py)."""

# %% masked_whitening
inside = t1s[0][brain_masks[0]]
answer = (t1s[0] - inside.mean()) / inside.std()


# %% window_clipping
# CSF's values are HU["CSF"] plus normal noise of sd NOISE_HU: draw many such values and count
# the share at or below the window's low end (a normal distribution's tail, by simulation).
csf_like = np.random.default_rng(0).normal(HU["CSF"], NOISE_HU, 100_000)
share = np.mean(csf_like <= window[0])
prediction = "few" if share < 1 / 3 else "most" if share > 2 / 3 else "about half"


# %% whiten_without_mask
x = t1s[0].astype(float)
whitened_all = (x - x.mean()) / x.std()  # statistics of every voxel, background included
brain_mean = whitened_all[brain_masks[0]].mean()
prediction = "above" if brain_mean > 0.05 else "below" if brain_mean < -0.05 else "zero"


# %% resampled_size
answer = [round(n * s / 3.0) for n, s in zip(anisotropic.GetSize(), anisotropic.GetSpacing())]


# %% skip_smoothing
# the blur only acts on axes whose voxels get larger; resampling to spacing_mm refines the
# thick axis and keeps the others, so there is nothing to blur
coarser = [new > old + 1e-6 for old, new in zip(anisotropic.GetSpacing(), [spacing_mm] * 3)]
prediction = "higher" if any(coarser) else "same"


# %% jacobian_ventricles
# ventricles grow with age: after the affine step removed the brain's overall size, the oldest
# subject's ventricles are still larger than the template's, so a piece of template ventricle
# maps onto a larger piece of subject: the determinant is above 1 there
prediction = "above"
