"""Worked solutions of notebook 06_segmentation (shown by exercises.solution; see exercises/_core.py)."""

# %% window_count
# 48 -> 0, 12, 24 (3 windows); 56 -> 0, 12, 24, 32 (4; the last one flush with the end).
answer = 3 * 4 * 3

# %% overlap_windows
# The step between window starts is window x (1 - overlap): a smaller overlap means a
# larger step, so fewer windows along each axis (and the three counts multiply).
step = round(p.window * (1 - changed_overlap))
prediction = ("same" if step == round(p.window * (1 - p.overlap))
              else "fewer" if changed_overlap < p.overlap else "more")

# %% lesion_connectivity
# Dropping edge and corner neighbours can only split lesions, never join them: count both.
six = sum(lesion_counts(pr, lab, n_classes, lesion_class=lesion, connectivity=1)["true"]
          for pr, lab in zip(predictions, truths, strict=True))
prediction = "more" if six > detection["true"] else "same"

# %% lesion_f1
c = lesion_table.iloc[0]
recall = c["detected"] / c["true"] if c["true"] else 1.0
precision = c["correct"] / c["predicted"] if c["predicted"] else 1.0
answer = 2 * recall * precision / (recall + precision) if recall + precision else 0.0

# %% native_dice
# This one is measured: run the evaluation, compare the two printed means.
difference = native_tissue_dice - mean_tissue_dice
prediction = "same" if abs(difference) < 0.005 else ("higher" if difference > 0 else "lower")
