"""Worked solutions of notebook 10_super_resolution (shown by exercises.solution; see exercises/_core.py)."""

# %% low_res_shape
answer = [n // p.factor for n in (48, 56, 44)]
