"""Worked solutions of notebook 04_augmentation (shown by exercises.solution; see exercises/_core.py)."""

# %% flip_pair
answer = (np.flip(image, axis=2), np.flip(label, axis=2))
