"""Worked solutions of notebook 08_sex_classification (shown by exercises.solution; see exercises/_core.py)."""

# %% majority_accuracy
answer = np.mean(sex[held_out] == np.bincount(sex[train]).argmax())
