"""Worked solutions of notebook 05_class_balancing (shown by exercises.solution; see exercises/_core.py)."""

# %% median_frequency
counts = np.array([np.bincount(lab.ravel(), minlength=n_classes) for _, lab in train])
present_voxels = np.array([(c > 0) * lab.size for c, (_, lab) in zip(counts, train)])
f = counts.sum(axis=0) / present_voxels.sum(axis=0)
answer = np.median(f) / f

# %% crop_weights
# A brain class c present in every volume has f_c = n_c / N, with n_c its voxels and N the
# voxels of all volumes. Cropping away background shrinks N but keeps every n_c of the brain
# classes, so each of their shares grows by the same factor. The lesion's weight is
# median(f) / f_lesion, a ratio of two such shares (the median share is a brain class's
# while the background stays the largest class): the factor cancels.
prediction = "same"

# %% lesion_weight_sampling
# With equal weights one draw in K (K: the classes present) is for the lesion class, centred
# on a lesion voxel. With weight 0 none is: lesion voxels only enter the batches when a
# patch drawn for another class (mostly white matter) happens to include one.
prediction = "lower"

# %% smoothing
# In a patch without lesions sum(g) = 0 and sum(p g) = 0, so the lesion's term is
# s / (sum(p) + s), where sum(p) is the small lesion probability summed over the patch.
# With s = 1 the term is well above 0 (near 1, agreement, when sum(p) is below one voxel);
# with s = 1e-5 it is near 0 (the worst score): the loss of a right answer goes up.
prediction = "higher"

# %% batch_dice
# One loss per patch: the patch without lesions contributes its own lesion term, with as
# much say in the mean as any other patch. One loss over the batch: the sums pool all patches, the lesion voxels of
# the other patches dominate, and the empty patch's tiny probabilities barely count.
prediction = "lower"
