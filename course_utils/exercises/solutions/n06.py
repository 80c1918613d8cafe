"""Worked solutions of notebook 06_segmentation (shown by exercises.solution; see exercises/_core.py)."""

# %% window_count
# 48 -> 0, 12, 24 (3 windows); 56 -> 0, 12, 24, 32 (4; the last one flush with the end).
answer = 3 * 4 * 3
