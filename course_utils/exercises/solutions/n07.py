"""Worked solutions of notebook 07_age_regression (shown by exercises.solution; see exercises/_core.py)."""

# %% baseline_mae
answer = np.mean(np.abs(age[held_out] - age[train].mean()))
