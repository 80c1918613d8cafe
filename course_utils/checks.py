"""One validator per idiom: every knob and option of the course is checked here.

Each function returns the value in its canonical form or raises
:class:`~course_utils.errors.ConfigError` whose message names the argument and
states the valid range (the idea of Keras' ``standardize_tuple`` and MONAI's
``look_up_option``). Call them once, at a public entry point; inner code then
trusts its arguments.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

from course_utils.errors import ConfigError

Triple = tuple[int, int, int]


def _range_text(minimum: float | None, maximum: float | None, *, open_min: bool = False,
                open_max: bool = False) -> str:
    if minimum is not None and maximum is not None:
        left, right = ("(" if open_min else "["), (")" if open_max else "]")
        return f"in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f"{'>' if open_min else '>='} {minimum:g}"
    if maximum is not None:
        return f"{'<' if open_max else '<='} {maximum:g}"
    return "finite"


def integer(value: Any, name: str, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``value`` as an ``int`` (``3.0`` is accepted, ``2.5`` and ``True`` are not), within bounds.

    ``name`` is the argument the error names; ``minimum``/``maximum`` (inclusive) or None.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        ok = math.isfinite(float(value)) and float(value) == int(value)
    result = int(value) if ok else None
    if not ok or (minimum is not None and result < minimum) or (
            maximum is not None and result > maximum):
        limits = "" if minimum is None and maximum is None else " " + _range_text(minimum, maximum)
        raise ConfigError(f"{name} must be a whole number{limits}, got {value!r}", name=name)
    return result


def number(value: Any, name: str, *, minimum: float | None = None,
           maximum: float | None = None, open_min: bool = False,
           open_max: bool = False) -> float:
    """``value`` as a finite ``float`` within bounds.

    ``name`` is the argument the error names; ``minimum``/``maximum`` or None;
    ``open_min``/``open_max`` exclude the bound itself.
    """
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))):
        raise ConfigError(f"{name} must be a finite number, got {value!r}", name=name)
    result = float(value)
    low = minimum is not None and (result <= minimum if open_min else result < minimum)
    high = maximum is not None and (result >= maximum if open_max else result > maximum)
    if low or high:
        text = _range_text(minimum, maximum, open_min=open_min, open_max=open_max)
        raise ConfigError(f"{name} must be a number {text}, got {value!r}", name=name)
    return result


def boolean(value: Any, name: str) -> bool:
    """``value`` if it is ``True`` or ``False`` (not ``1``, not ``"yes"``); ``name`` for errors."""
    if not isinstance(value, bool):
        import numpy as np

        if not isinstance(value, np.bool_):
            raise ConfigError(f"{name} must be True or False, got {value!r}", name=name)
    return bool(value)


def triple(value: Any, name: str, *, minimum: int = 1) -> Triple:
    """``value`` ``2`` -> ``(2, 2, 2)``; three whole numbers ``>= minimum`` are kept (z, y, x).

    ``name`` is the argument the error names.
    """
    import numpy as np

    if isinstance(value, (str, bytes)):
        values = None
    else:
        values = np.atleast_1d(np.asarray(value, dtype=object)).ravel().tolist()
        if len(values) == 1:
            values = values * 3
    if values is None or len(values) != 3:
        raise ConfigError(
            f"{name} must be one whole number or three of them (z, y, x), got {value!r}",
            name=name,
        )
    try:
        return tuple(integer(v, name, minimum=minimum) for v in values)  # type: ignore[return-value]
    except ConfigError:
        raise ConfigError(
            f"{name} must be one whole number >= {minimum} or three of them (z, y, x), "
            f"got {value!r}", name=name,
        ) from None


def int_list(value: Any, name: str, *, minimum: int = 1, min_length: int = 1,
             example: str = "[8, 16, 32]") -> list[int]:
    """``value`` as a list of whole numbers ``>= minimum`` (e.g. filters per level).

    ``name`` is the argument the error names; ``min_length``, the fewest items;
    ``example``, a valid value the error shows.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{name} must be a list of whole numbers such as {example}, got {value!r}", name=name
        )
    values = list(value)
    if len(values) < min_length:
        raise ConfigError(
            f"{name} must hold at least {min_length} value(s), such as {example}, got {value!r}",
            name=name,
        )
    try:
        return [integer(v, name, minimum=minimum) for v in values]
    except ConfigError:
        raise ConfigError(
            f"{name} must be a list of whole numbers >= {minimum}, such as {example}, "
            f"got {value!r}", name=name,
        ) from None


def option(value: Any, options: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``options``; else an error naming ``name``, suggesting one."""
    if isinstance(value, str) and value in options:
        return value
    listed = ", ".join(repr(o) for o in options)
    close = difflib.get_close_matches(str(value), list(options), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown {name} {value!r}{hint}; choose one of {listed}", name=name)
