"""Worked solutions of notebook 01_headers_and_physical_space (shown by exercises.solution; see exercises/_core.py)."""

# %% world_point
o = np.array(other.GetOrigin())
s = np.array(other.GetSpacing())
D = np.reshape(other.GetDirection(), (3, 3))
answer = o + D @ (s * np.array([3, 7, 2]))


# %% orientation_code
# Superior; column 3 is (-1, 0, 0) -> z goes to -x: Right.
answer = "ASR"
