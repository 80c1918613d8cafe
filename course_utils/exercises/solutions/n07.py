"""Worked solutions of notebook 07_age_regression (shown by exercises.solution; see exercises/_core.py)."""

# %% median_baseline_mae
answer = np.mean(np.abs(age[test] - np.median(age[train])))

# %% baseline_on_young
# With `probe = age < 30` on the marked line: the baseline answers the training mean (middle
# age) for everyone, and young subjects are far from it.
prediction = "higher"

# %% crop_averaging
# |mean of the views' predictions - age| <= mean of |view's prediction - age| (triangle
# inequality): averaging gains when a subject's views err on both sides of its age, never loses.
prediction = "lower or the same"
