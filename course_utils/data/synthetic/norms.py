"""Published adult norms that the synthetic cohort follows: one source for every number quoted.

Tissue volumes are fractions of the total intracranial volume (ICV), as population
studies report them; white-matter hyperintensity (WMH) volumes are in ml. The
formulas are smooth curves chosen to pass through the published ranges (they are
not fits to one study); data/README.md lists the sources and the numbers they give.

* ICV: adult mean ~1,450 ml, men ~13 % larger than women.
* Grey matter fraction falls linearly with age, 0.49 of ICV at 20 to 0.40 at 80
  (Ge et al. 2002, AJNR 23:1327; Good et al. 2001, NeuroImage 14:21).
* White matter fraction rises into the 40s and falls after, 0.33 at 20, 0.35 at 45,
  0.30 at 86 (Ge et al. 2002; Walhovd et al. 2011, Neurobiol Aging 32:916).
* CSF is the rest (0.18 of ICV at 20, 0.30 at 86): ventricles and sulci widen.
* WMH volume grows exponentially with age, log-normal around its median, so it is
  heavy-tailed: median 0.25 ml at 20, ~1 ml at 45, ~5 ml at 70, ~10 ml at 80, and tens of
  ml in a sizeable minority past 70 (Habes et al. 2016, Brain 139:1164; de Leeuw et al.
  2001, JNNP 70:9; Fazekas et al. 1987, AJR 149:351).
"""

from __future__ import annotations

import numpy as np

AGE_RANGE_YEARS = (20.0, 86.0)  # ages are drawn uniformly on this range
ICV_ML = 1450.0  # mean adult total intracranial volume
BIOLOGICAL_AGE_SD_YEARS = 5.0  # individual "brain age" around the calendar age
GREY_FRACTION_SD = 0.006  # individual grey-matter fraction beyond (biological) age
WHITE_FRACTION_SD = 0.005  # individual white-matter fraction beyond age
WMH_MEDIAN_ML_AT_20 = 0.25  # median WMH volume of a 20-year-old
WMH_GROWTH_PER_YEAR = 0.06  # the median grows by exp(0.06) ~ 6 % a year
WMH_LOG_SD = 0.9  # sd of log(WMH volume) around the median: heavy tail
WMH_MAX_ML = 80.0  # no synthetic subject carries more


def grey_fraction(age: float | np.ndarray) -> float | np.ndarray:
    """Mean grey-matter volume as a fraction of ICV at ``age`` (years).

    Parameters: ``age`` years (scalar or array).
    """
    return 0.49 - 0.0015 * (np.asarray(age, dtype=float) - 20.0)


def white_fraction(age: float | np.ndarray) -> float | np.ndarray:
    """Mean white-matter volume (lesions included) as a fraction of ICV at ``age`` (years).

    Parameters: ``age`` years (scalar or array).
    """
    return 0.35 - 2.97e-5 * (np.asarray(age, dtype=float) - 45.0) ** 2


def csf_fraction(age: float | np.ndarray) -> float | np.ndarray:
    """Mean CSF volume as a fraction of ICV at ``age``: what grey and white matter leave.

    Parameters: ``age`` years (scalar or array).
    """
    return 1.0 - grey_fraction(age) - white_fraction(age)


def wmh_median_ml(age: float | np.ndarray) -> float | np.ndarray:
    """Median white-matter hyperintensity volume (ml) at ``age`` (years).

    Parameters: ``age`` years (scalar or array).
    """
    return WMH_MEDIAN_ML_AT_20 * np.exp(WMH_GROWTH_PER_YEAR * (np.asarray(age, float) - 20.0))


def expected_volumes_ml(age: float) -> dict[str, float]:
    """Mean grey, white, CSF and WMH volumes (ml) of a subject aged ``age`` with the mean ICV.

    Parameters: ``age`` years. The WMH entry is the mean of the log-normal, not the median.
    """
    return {"grey": float(grey_fraction(age) * ICV_ML),
            "white": float(white_fraction(age) * ICV_ML),
            "csf": float(csf_fraction(age) * ICV_ML),
            "wmh": float(wmh_median_ml(age) * np.exp(WMH_LOG_SD**2 / 2))}
