"""Worked solutions of notebook 07_age_regression (shown by exercises.solution; see exercises/_core.py)."""

# %% baseline_mae
answer = np.mean(np.abs(age[test] - age[train].mean()))

# %% baseline_on_young
# The baseline answers the training mean (about 50) for everyone: young subjects are far from it.
prediction = "higher"

# %% crop_averaging
# |mean of the crop predictions - age| <= mean of |crop prediction - age| (triangle inequality):
# averaging gains whenever the crops of a subject err on both sides of its age, never loses.
prediction = "lower or the same"
