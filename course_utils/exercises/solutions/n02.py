"""Worked solutions of notebook 02_io_benchmark (shown by exercises.solution; see exercises/_core.py)."""

# %% batch_megabytes
answer = np.prod(shape) * p.batch_size * 4 / 2**20


# %% shuffle_order
# A buffer of 1 holds one element: nothing to choose from, so the file order comes out.
prediction = "file order" if shuffle_buffer == 1 else "shuffled"


# %% record_size
# A packed float list stores 4 bytes per float32, like the raw bytes, plus a little framing.
prediction = "about the same"


# %% io_bound
answer = [name for name, seconds in per_batch.items() if seconds > step_seconds]
