"""Worked solutions of notebook 00_setup (shown by exercises.solution; see exercises/_core.py)."""

# %% preset_precedence
# Later ways win: an explicit preset= beats the environment variable, None defers to it.
prediction = choice if choice is not None else environment_preset


# %% cast_memory
# Memory = voxels x bytes per voxel, so only the two itemsizes matter.
ratio = np.dtype(dtype).itemsize / t1.dtype.itemsize
prediction = {0.5: "half", 1.0: "same", 2.0: "double"}[ratio]


# %% finer_voxels
# Each axis gets `factor` times the voxels, so the volume gets factor ** 3 times as many.
prediction = {1: "same", 2: "double", 4: "four times", 8: "eight times"}[factor ** 3]
