"""Self-check exercises: ``check_*`` functions that answer a learner with a hint, not a traceback.

Each check returns ``True`` when the answer is right and prints one short
message either way: what is right, or what is wrong and a hint toward the fix.
A check never raises on a wrong or missing answer, so a notebook run top to
bottom (papermill, nbval) continues; the hidden solution cell below each
exercise shows one correct answer and checks it too.

The pattern for a new exercise::

    def check_something(answer) -> bool:
        expected = ...  # computed independently, never pasted in
        return feedback(close(answer, expected), "why it is right",
                        hint="what to look at", answer=answer)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

NOT_ANSWERED = "Not answered yet: replace the `...` or `None` with your code and run the cell again."


def _missing(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def feedback(ok: bool, success: str, hint: str, answer: Any = None) -> bool:
    """Print a one-line verdict for ``answer`` (success message, or the hint) and return ``ok``."""
    if _missing(answer):
        print(f"⏳ {NOT_ANSWERED}\n   Hint: {hint}")
        return False
    if ok:
        print(f"✅ Correct. {success}")
    else:
        print(f"❌ Not quite. {hint}")
    return bool(ok)


def close(answer: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True if ``answer`` has ``expected``'s shape and values (within tolerance)."""
    if _missing(answer):
        return False
    try:
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def shape_hint(answer: Any, expected_shape: Sequence[int]) -> str:
    """A hint that compares the shape of ``answer`` with the one expected."""
    got = np.shape(answer) if not _missing(answer) else None
    return f"expected an array of shape {tuple(expected_shape)}, got shape {got}."


# ---------------------------------------------------------------------------
# 00 setup
# ---------------------------------------------------------------------------
def check_preset_choice(answer: Any) -> bool:
    """00: which preset fits a 2 GB Binder session? (the default one)"""
    from course_utils import config

    ok = isinstance(answer, str) and answer.strip().lower() == config.DEFAULT_PRESET
    return feedback(
        ok,
        "`binder` fits 2 GB of memory and about 10 minutes per notebook on 1-2 cores.",
        hint="look at the preset table above: which preset is sized for 2 GB RAM and no GPU?",
        answer=answer,
    )


# ---------------------------------------------------------------------------
# 01 headers and physical space  (course_utils.io)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 02 I/O benchmark  (course_utils.pipelines)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 03 normalisation  (course_utils.preprocessing)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 04 augmentation  (course_utils.augmentation)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 05 class balancing  (course_utils.sampling, losses, metrics)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 06 segmentation  (course_utils.networks, training, inference)
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# 07-10 applications
# ---------------------------------------------------------------------------
