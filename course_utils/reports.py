"""Run every notebook as a papermill report: executed notebook, HTML page, and an index.

    python -m course_utils.reports --preset binder [--notebooks 01 06] [--out reports]

Writes ``<out>/<preset>/<stem>.ipynb``, ``<stem>.html`` and ``<stem>.metrics.json`` for
each notebook, and ``<out>/<preset>/index.html`` listing status, runtime, peak memory
and the metrics each notebook recorded. A failed notebook is listed as failed (with
its error) and the others still run; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

from course_utils import config

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def notebooks(selection: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The course notebooks in order, optionally only those whose name starts with a selection."""
    folder = NOTEBOOK_DIR if folder is None else folder
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selection)]
        if not paths:
            raise config.ConfigError(
                f"no notebook matches {selection}; notebooks are: "
                + ", ".join(p.stem for p in sorted(folder.glob("[0-9][0-9]_*.ipynb")))
            )
    return paths


def run_one(path: Path, out_dir: Path, preset: str) -> dict:
    """Execute one notebook with papermill at ``preset``, then convert it to HTML."""
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    out_nb = out_dir / path.name
    row = {"notebook": path.stem, "status": "ok", "error": "", "wall_s": None}
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(path), str(out_nb), parameters={"preset": preset},
            cwd=str(path.parent), progress_bar=False, kernel_name="python3",
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
    row["wall_s"] = round(time.perf_counter() - start, 1)
    if out_nb.exists():
        body, _ = HTMLExporter().from_notebook_node(nbformat.read(out_nb, as_version=4))
        (out_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
    metrics_file = out_dir / f"{path.stem}.metrics.json"
    if metrics_file.exists() and row["status"] == "ok":
        row.update(json.loads(metrics_file.read_text(encoding="utf-8")))
    return row


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def write_index(rows: list[dict], out_dir: Path, preset: str) -> Path:
    """Write ``index.html``: one table row per notebook."""
    lines = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>Course reports ({html.escape(preset)})</title>",
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;"
        "padding:4px 8px;vertical-align:top}table{border-collapse:collapse}"
        ".failed{background:#fdd}</style>",
        f"<h1>Course reports, preset <code>{html.escape(preset)}</code></h1>",
        "<table><tr><th>notebook</th><th>status</th><th>runtime (s)</th>"
        "<th>peak memory (MiB)</th><th>metrics</th></tr>",
    ]
    for r in rows:
        name = html.escape(r["notebook"])
        cls = " class='failed'" if r["status"] != "ok" else ""
        status = r["status"] if not r["error"] else f"{r['status']}: {r['error']}"
        metrics = "<br>".join(
            f"{html.escape(str(k))}: {html.escape(_fmt(v))}" for k, v in (r.get("metrics") or {}).items()
        )
        lines.append(
            f"<tr{cls}><td><a href='{name}.html'>{name}</a></td><td>{html.escape(status)}</td>"
            f"<td>{_fmt(r.get('runtime_s') or r['wall_s'])}</td><td>{_fmt(r.get('peak_memory_mb', ''))}</td>"
            f"<td>{metrics}</td></tr>"
        )
    lines.append("</table>")
    index = out_dir / "index.html"
    index.write_text("\n".join(lines), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.reports", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=None, help="ci, binder (default) or full")
    parser.add_argument("--notebooks", nargs="*", help="only these (name prefixes, e.g. 01 06)")
    parser.add_argument("--out", default=None, help="reports folder (default: $COURSE_REPORTS_DIR or reports/)")
    args = parser.parse_args(argv)
    try:
        preset = config.current_preset(args.preset)
        paths = notebooks(args.notebooks)
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = (Path(args.out) if args.out else config.reports_dir()).resolve() / preset
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ["COURSE_REPORTS_DIR"] = str(out_dir)  # the kernels record their metrics here
    rows = []
    for path in paths:
        print(f"running {path.name} at {preset} ...", flush=True)
        row = run_one(path, out_dir, preset)
        print(f"  {row['status']} in {row['wall_s']} s {row['error']}", flush=True)
        rows.append(row)
    index = write_index(rows, out_dir, preset)
    print(f"wrote {index}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
