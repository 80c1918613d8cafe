"""Worked solutions of notebook 00_setup (shown by exercises.solution; see exercises/_core.py)."""

# %% preset_choice
answer = "binder"
