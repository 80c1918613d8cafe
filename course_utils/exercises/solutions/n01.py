"""Worked solutions of notebook 01_headers_and_physical_space (shown by exercises.solution; see exercises/_core.py)."""

# %% world_point
o = np.array(other.GetOrigin())
s = np.array(other.GetSpacing())
D = np.reshape(other.GetDirection(), (3, 3))
answer = o + D @ (s * np.array([3, 7, 2]))


# %% orientation_code
# Column k of the direction is where voxel axis k points; its largest entry names the
# world axis (x: L/R, y: P/A, z: S/I) and its sign the end (+: L, P, S; -: R, A, I).
D = np.reshape(puzzle.GetDirection(), (3, 3))
answer = ""
for column in D.T:
    axis = int(np.argmax(abs(column)))
    answer += ["LR", "PA", "SI"][axis][0 if column[axis] > 0 else 1]


# %% spacing_change
# p = o + D (s * i): voxel (0, 0, 0) sits at the origin whatever the spacing;
# any other voxel moves by D (change * i).
changed_spacing = not np.allclose(new_spacing, image.GetSpacing())
prediction = "only the far voxel" if changed_spacing else "neither"


# %% direction_flip
# Flipping a column says voxel axis x points the other way: reorienting mirrors the array.
prediction = "mirrored" if flip_x else "same"


# %% dicom_order
# Each file carries its Image Position (Patient): the reader sorts by it, not by file name.
prediction = "same"
