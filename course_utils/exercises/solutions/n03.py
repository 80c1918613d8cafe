"""Worked solutions of notebook 03_normalization (shown by exercises.solution; see exercises/_core.py)."""

# %% masked_whitening
inside = t1s[0][brain_masks[0]]
answer = (t1s[0] - inside.mean()) / inside.std()


# %% brain_window
answer = (0, 80)
