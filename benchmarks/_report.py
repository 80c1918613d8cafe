"""What every benchmark script does last: print its table and, if asked, save its rows as JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Column = tuple[str, str, Callable[[dict], Any]]  # title, format spec (e.g. ">9.3f"), value


def print_table(rows: Sequence[dict], columns: Sequence[Column]) -> None:
    """Print one header line and one line per row; each column's width comes from its spec."""
    heads = []
    for title, spec, _ in columns:
        align, width = re.match(r"([<>^]?)(\d*)", spec).groups()
        heads.append(f"{title:{align or '<'}{width}}")
    print(" ".join(heads))
    for row in rows:
        print(" ".join(f"{value(row):{spec}}" for _, spec, value in columns))


def save_json(rows: Any, path: Path | None) -> None:
    """Write ``rows`` to ``path`` as JSON (nothing when ``path`` is None)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")
