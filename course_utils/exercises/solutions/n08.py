"""Worked solutions of notebook 08_sex_classification (shown by exercises.solution; see exercises/_core.py)."""

# %% majority_confusion
from sklearn.metrics import confusion_matrix

constant = np.full(len(sex[test]), np.bincount(sex[train]).argmax())  # the baseline's answers
answer = confusion_matrix(sex[test], constant, labels=[0, 1])  # rows: true F, M; columns: answer

# %% majority_balanced_accuracy
# A constant answer is right for every subject of one class (1) and wrong for the other (0).
prediction = "0.5"

# %% threshold
# Lowering the threshold calls M more often: men called M stay M (sensitivity up or same).
prediction = "sensitivity" if threshold < 0.5 else "specificity"

# %% averaged_cross_entropy
# -log p is convex: -log(mean of the views' p) <= mean of -log p (Jensen's inequality), with
# equality only when every view gives the same probabilities. Accuracy has no such guarantee.
prediction = "lower or the same"
