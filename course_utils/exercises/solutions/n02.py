"""Worked solutions of notebook 02_io_benchmark (shown by exercises.solution; see exercises/_core.py)."""

# %% batch_megabytes
answer = np.prod(shape) * p.batch_size * 4 / 2**20


# %% io_bound
answer = [name for name, seconds in per_batch.items() if seconds > step_seconds]
