"""Demographics of a cohort as training targets: checked ages and sex codes (lessons 07-09)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from course_utils.errors import DataError

#: Ages (years) a subject can plausibly have; anything else is a data-entry error.
AGE_RANGE = (0.0, 120.0)
#: How sex is coded as a class index (the order of the classifier's outputs).
SEX_CLASSES = ("F", "M")



def check_demographics(cohort: pd.DataFrame, require: Sequence[str] = ("age", "sex")) -> None:
    """A DataError naming the subject if a ``require`` column of ``cohort`` is bad or missing."""
    where = cohort.attrs.get("root") or cohort.attrs.get("name") or "the demographics table"
    missing = [c for c in require if c not in cohort.columns]
    if missing:
        raise DataError(
            f"{where}: the demographics have no column(s) {', '.join(missing)} "
            f"(columns: {', '.join(map(str, cohort.columns))}); lessons 07-09 need age and sex "
            "per subject: add them, or pick a dataset that has them (synthetic, ixi)"
        )
    ids = cohort["subject_id"] if "subject_id" in cohort.columns else cohort.index
    if "age" in require:
        age = pd.to_numeric(cohort["age"], errors="coerce")
        low, high = AGE_RANGE
        bad = ~age.between(low, high)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{where}: subject {ids.iloc[i]} has age {str(cohort['age'].iloc[i])!r}, outside the "
                f"plausible range {low:g}-{high:g} years ({int(bad.sum())} such subject(s)); "
                "correct the demographics file or drop these subjects"
            )
    if "sex" in require:
        bad = ~cohort["sex"].isin(SEX_CLASSES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataError(
                f"{where}: subject {ids.iloc[i]} has sex {cohort['sex'].iloc[i]!r}; "
                f"expected one of {', '.join(SEX_CLASSES)}; correct the demographics file"
            )


def sex_labels(cohort: pd.DataFrame) -> np.ndarray:
    """Sex of each ``cohort`` row as classes (0 = F, 1 = M), after :func:`check_demographics`."""
    check_demographics(cohort, require=("sex",))
    return cohort["sex"].map({s: i for i, s in enumerate(SEX_CLASSES)}).to_numpy("int32")


def ages(cohort: pd.DataFrame) -> np.ndarray:
    """Age of each ``cohort`` row in years as float32, after :func:`check_demographics`."""
    check_demographics(cohort, require=("age",))
    return cohort["age"].to_numpy("float32")
