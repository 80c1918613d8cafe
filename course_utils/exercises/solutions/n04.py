"""Worked solutions of notebook 04_augmentation (shown by exercises.solution; see exercises/_core.py)."""

# %% flip_axis
# The orientation code names where voxel axes x, y, z point; find the L/R letter, then turn
# SimpleITK's (x, y, z) position into numpy's (z, y, x) one.
code = io.orientation_code(raw_image)
voxel_axis = next(k for k, letter in enumerate(code) if letter in "LR")
answer = 2 - voxel_axis


# %% elastic_alignment
# `deform` computes one set of displaced positions and reads both the image (linearly) and
# the labels (nearest neighbour) there: each voxel keeps its label at any strength.
prediction = "yes"

# %% rotate_crop_order
# A block turned by an angle needs voxels beyond its own corners. Cropped first, the block
# has none there and the rotation repeats its edge; rotated first, the whole volume
# supplies real voxels around a central block.
prediction = "more"
