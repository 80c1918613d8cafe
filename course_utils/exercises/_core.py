"""The self-check machinery: verdicts, comparisons, predictions and worked solutions.

A check prints one short verdict and returns True or False; it never raises on a
wrong or missing answer (tests/test_exercises.py tries them with such answers).
Worked solutions live in ``solutions/nNN.py`` (one ``# %% <exercise>`` section each),
not in the notebooks: Run All, papermill reports and Colab never show them, and a
learner asks for one with :func:`solution`. ``make notebooks`` sets
``COURSE_VERIFY_SOLUTIONS=1``: each check then runs its worked solution in a copy of
the notebook's namespace and fails the run if the solution does not pass.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

NOT_ANSWERED = "Not answered yet: replace the `...` or `None` with your code and run the cell again."
SOLUTIONS = Path(__file__).with_name("solutions")
VERIFY_ENV = "COURSE_VERIFY_SOLUTIONS"
REGISTRY: dict[str, dict] = {}  # exercise name -> {"check": function, "kind": "value"|"predict"}


def _missing(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _shape(answer: Any) -> tuple[int, ...] | None:
    """The array shape of ``answer``, or None if it has none (missing, ragged, not numeric)."""
    if _missing(answer):
        return None
    try:
        return tuple(np.shape(answer))
    except (TypeError, ValueError):  # a ragged list: numpy refuses to guess a shape
        return None


def feedback(ok: bool, success: str, hint: str, answer: Any = None) -> bool:
    """Print a one-line verdict for ``answer`` (success message, or the hint) and return ``ok``.

    Parameters: ``ok``: whether the answer is right; ``success``: what to say if so;
    ``hint``: what to look at if not (it guides, it never states the answer);
    ``answer``: the learner's answer (None or ``...`` means not answered yet).
    """
    if _missing(answer):
        print(f"⏳ {NOT_ANSWERED}\n   Hint: {hint}")
        return False
    if ok:
        print(f"✅ Correct. {success}")
    else:
        print(f"❌ Not quite. {hint}")
    return bool(ok)


def close(answer: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True if ``answer`` has ``expected``'s shape and values (within tolerance).

    Parameters: ``answer``: anything the learner gave (text and ragged lists are
    simply not close); ``expected``: the right value; ``rtol``, ``atol``: as in
    ``np.allclose``.
    """
    if _missing(answer) or isinstance(answer, (str, bytes)):
        return False
    try:
        a = np.asarray(answer, dtype=float)
        e = np.asarray(expected, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return False
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=rtol, atol=atol))


def shape_hint(answer: Any, expected_shape: Sequence[int]) -> str:
    """A hint that compares the shape of ``answer`` with the one expected.

    Parameters: ``answer``: the learner's answer; ``expected_shape``: the shape wanted.
    """
    got = _shape(answer)
    what = f"shape {got}" if got is not None or _missing(answer) else "no array shape (ragged?)"
    return f"expected an array of shape {tuple(expected_shape)}, got {what}."


def judge_prediction(prediction: Any, truth: str, choices: Sequence[str], why: str,
                     hint: str) -> bool:
    """The verdict of a change-predict-verify exercise: was the prediction right, and why.

    Parameters: ``prediction``: the learner's choice (None: not answered yet);
    ``truth``: the right choice, measured or derived independently by the check;
    ``choices``: every valid choice; ``why``: the explanation, shown once the learner
    has committed to a prediction (right or wrong); ``hint``: what to think about
    before predicting (never the answer).
    """
    options = [str(c).lower() for c in choices]
    if _missing(prediction):
        print(f"⏳ Not answered yet: set `prediction` to one of {', '.join(map(repr, choices))}, "
              f"change the marked line, run that cell, then this one.\n   Hint: {hint}")
        return False
    given = str(prediction).strip().lower()
    if given not in options:
        print(f"❌ Answer one of {', '.join(repr(c) for c in choices)} (got {prediction!r}).")
        return False
    ok = given == str(truth).lower()
    mark = "✅ Right" if ok else f"❌ Not this time: the answer is {truth!r}"
    print(f"{mark}. {why}")
    return ok


def change_first(prediction: Any, unchanged: bool, line: str) -> bool | None:
    """The verdict when a prediction comes before the marked line was changed; None: judge it.

    Parameters: ``prediction``: the learner's choice; ``unchanged``: whether the experiment
    is still the notebook's starting one; ``line``: what to change, as the learner reads it.
    A learner is told to change the line first (False). A worked solution verified on the
    notebook as it stands (``COURSE_VERIFY_SOLUTIONS=1``, the line unchanged) has no
    experiment to be judged on: True.
    """
    if not unchanged or _missing(prediction):
        return None
    if os.environ.get(VERIFY_ENV) == "1":
        return True
    print(f"⏳ Change the marked line first ({line}), then run the cell again: "
          "the check judges your prediction on the changed experiment.")
    return False


HIGHER_SAME_LOWER = ("higher", "same", "lower")  # the choices of most predict exercises


def compare(changed: float, reference: float, tolerance: float, relative: bool = False) -> str:
    """"higher", "same" or "lower": a measured ``changed`` value against ``reference``.

    Parameters: ``changed``, ``reference``: the two measurements; ``tolerance``: how close
    counts as "same", in the measurements' units or, if ``relative``, as a fraction of
    ``reference``.
    """
    margin = tolerance * max(abs(reference), 1e-12) if relative else tolerance
    if abs(changed - reference) <= margin:
        return "same"
    return "higher" if changed > reference else "lower"


def _solution_sections(path: Path) -> dict[str, str]:
    """``# %% name`` sections of one solutions file: name -> code."""
    parts = re.split(r"^# %% (\w+)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
    return {name: code.strip("\n") + "\n" for name, code in zip(parts[1::2], parts[2::2], strict=True)}


def solutions() -> dict[str, str]:
    """Every worked solution of the course: exercise name -> code (for tests and tools)."""
    found: dict[str, str] = {}
    for path in sorted(SOLUTIONS.glob("n*.py")):
        found.update(_solution_sections(path))
    return found


def solution(name: str) -> None:
    """Print the worked solution of exercise ``name`` (try it yourself first!).

    Parameters: ``name``: the exercise, as the check names it (``check_psnr_doubled_error`` or ``psnr_doubled_error``).
    """
    key = name.removeprefix("check_")
    code = solutions().get(key)
    if code is None:
        print(f"No worked solution is called {name!r}; the exercises are: {', '.join(sorted(REGISTRY))}.")
        return
    print(f"# A worked solution of `{key}` (one of several right ones):\n{code}")


def _verify(name: str, check: Callable, args: tuple, kwargs: dict, namespace: dict) -> None:
    """Run the worked solution of ``name`` in a copy of ``namespace``; raise if it fails its check."""
    code = solutions().get(name)
    if code is None:
        raise AssertionError(f"exercise {name!r} has no worked solution in {SOLUTIONS}")
    scope: dict = {}
    exec(compile(code, f"<solution {name}>", "exec"), dict(namespace), scope)  # noqa: S102
    answers = [scope[k] for k in ("answer", "prediction") if k in scope]
    if len(answers) != 1:
        raise AssertionError(f"the solution of {name!r} must assign exactly one of `answer`, `prediction`")
    with contextlib.redirect_stdout(io.StringIO()) as said:
        ok = check(answers[0], *args, **kwargs)
    if not ok:
        raise AssertionError(f"the worked solution of {name!r} fails its own check: {said.getvalue()}")


def exercise(check: Callable | None = None, *, kind: str = "value"):
    """Register a ``check_*`` function as an exercise (``kind``: "value" or "predict").

    Parameters: ``check``: the check (its first argument is the learner's answer);
    ``kind``: "predict" for change-predict-verify exercises, else "value". With
    ``COURSE_VERIFY_SOLUTIONS=1`` the wrapped check also verifies its worked solution
    in the calling notebook's namespace.
    """
    if check is None:
        return functools.partial(exercise, kind=kind)
    name = check.__name__.removeprefix("check_")

    @functools.wraps(check)
    def wrapper(answer: Any = None, *args, **kwargs) -> bool:
        if os.environ.get(VERIFY_ENV) == "1":
            _verify(name, check, args, kwargs, sys._getframe(1).f_globals)
        ok = check(answer, *args, **kwargs)
        if not ok:
            print(f'   Stuck? exercises.solution("{name}") prints a worked answer.')
        return ok

    REGISTRY[name] = {"check": wrapper, "kind": kind}
    return wrapper
