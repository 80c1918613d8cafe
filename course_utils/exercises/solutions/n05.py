"""Worked solutions of notebook 05_class_balancing (shown by exercises.solution; see exercises/_core.py)."""

# %% median_frequency
counts = np.array([np.bincount(lab.ravel(), minlength=n_classes) for _, lab in train])
present_voxels = np.array([(c > 0) * lab.size for c, (_, lab) in zip(counts, train)])
f = counts.sum(axis=0) / present_voxels.sum(axis=0)
answer = np.median(f) / f
