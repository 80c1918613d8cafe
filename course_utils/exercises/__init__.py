"""Self-check exercises: ``check_*`` functions that answer a learner with a hint, not a traceback.

Each notebook's exercises live in ``nNN.py``, their worked solutions in
``solutions/nNN.py`` (never in the notebook). Two kinds (see ``_core.exercise``):
- "value": compute something (a formula, a shape, a window); the check computes
  the right value independently and compares.
- "predict" (change, predict, verify): the learner changes one thing, predicts
  what will happen, runs, and the check judges the prediction and explains.

The pattern for a new exercise::

    @exercise
    def check_something(answer) -> bool:
        expected = ...  # computed independently, never pasted in
        return feedback(close(answer, expected), "why it is right",
                        hint="what to look at (not the answer)", answer=answer)
"""

from course_utils.exercises import n00, n01, n02, n03, n04, n05, n06, n07, n08, n09, n10
from course_utils.exercises._core import (
    NOT_ANSWERED,
    REGISTRY,
    close,
    exercise,
    feedback,
    judge_prediction,
    shape_hint,
    solution,
    solutions,
)

_MODULES = (n00, n01, n02, n03, n04, n05, n06, n07, n08, n09, n10)
for _module in _MODULES:
    globals().update({k: v for k, v in vars(_module).items() if k.startswith("check_")})

__all__ = ["NOT_ANSWERED", "REGISTRY", "close", "exercise", "feedback", "judge_prediction",
           "shape_hint", "solution", "solutions", *sorted(k for k in globals() if k.startswith("check_"))]
