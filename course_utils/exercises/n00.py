"""Exercises of notebook 00 setup."""

from __future__ import annotations

from typing import Any

from course_utils.exercises._core import exercise, feedback


@exercise
def check_preset_choice(answer: Any) -> bool:
    """00: which preset fits a 2 GB Binder session? (the default one)

    Parameters: ``answer``: a preset name.
    """
    from course_utils import config

    ok = isinstance(answer, str) and answer.strip().lower() == config.DEFAULT_PRESET
    return feedback(
        ok,
        "`binder` fits 2 GB of memory and about 10 minutes per notebook on 1-2 cores.",
        hint="look at the preset table above: which preset is sized for 2 GB RAM and no GPU?",
        answer=answer,
    )
