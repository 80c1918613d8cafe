"""Run every notebook as a papermill report: executed notebook, HTML page, and an index.

    python -m course_utils.reports --preset binder [--notebooks 01 06] [--out reports]

Writes ``<out>/<preset>/<stem>.ipynb``, ``<stem>.html`` and ``<stem>.metrics.json`` for
each notebook, and ``<out>/<preset>/index.html`` listing status, runtime, peak memory
and the metrics each notebook recorded. A failed notebook is listed as failed (with
its error) and the others still run; the exit status is non-zero if any failed.

Results are never trusted stale: before a notebook runs, the metrics its previous
run recorded are removed, and ``<stem>.run.json`` records this run's status
(``running``, then ``ok`` or ``failed``) and start time. :func:`read_results` (used
by ``benchmarks/targets.py``) refuses metrics of a failed, unfinished or earlier run.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from course_utils import config
from course_utils.files import atomic_path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"


def notebooks(selection: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """The course notebooks in order, optionally only those whose name starts with a selection.

    Parameters: ``selection``: name prefixes such as ``["01", "06"]`` (None: all);
    ``folder``: where the notebooks are (default: the course's ``notebooks/``).
    """
    folder = NOTEBOOK_DIR if folder is None else folder
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        paths = [p for p in paths if any(p.name.startswith(s) for s in selection)]
        if not paths:
            raise config.ConfigError(
                f"no notebook matches {selection}; notebooks are: "
                + ", ".join(p.stem for p in sorted(folder.glob("[0-9][0-9]_*.ipynb"))),
                name="notebooks",
            )
    return paths


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_run(out_dir: Path, stem: str, run: dict) -> None:
    with atomic_path(out_dir / f"{stem}.run.json") as tmp:
        tmp.write_text(json.dumps(run, indent=2), encoding="utf-8")


def _read_json(path: Path) -> tuple[dict | None, str]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"MISSING ({path})"
    except (OSError, ValueError) as exc:
        return None, f"UNREADABLE ({path}: {exc})"
    if not isinstance(record, dict):
        return None, f"UNREADABLE ({path}: not a JSON object)"
    return record, ""


def read_results(out_dir: Path, stem: str) -> tuple[dict | None, str]:
    """The metrics record of ``stem``'s last run in ``out_dir`` and ``""``, or ``(None, why)``.

    Refused: a missing or unreadable record, and, where this runner left its
    ``<stem>.run.json``, a run that failed, did not finish, or recorded its metrics
    before it started (an earlier run's). Parameters: ``out_dir``: the reports folder
    of one preset; ``stem``: the notebook's name.
    """
    record, why = _read_json(out_dir / f"{stem}.metrics.json")
    if record is None:
        return None, why
    run, missing = _read_json(out_dir / f"{stem}.run.json")
    if run is None:
        # run by hand or by an older runner: nothing says it failed
        return (record, "") if missing.startswith("MISSING") else (None, missing)
    if run.get("status") == "running":
        return None, f"UNFINISHED RUN (started {run.get('started')})"
    if run.get("status") != "ok":
        return None, f"FAILED RUN ({run.get('error') or run.get('status')})"
    try:
        stale = (datetime.fromisoformat(str(record.get("finished")))
                 < datetime.fromisoformat(str(run.get("started"))))
    except ValueError:
        stale = True
    if stale:
        return None, (f"STALE (recorded {record.get('finished')}, before the run that started "
                      f"{run.get('started')})")
    return record, ""


def run_one(path: Path, out_dir: Path, preset: str, pretrained: bool = False) -> dict:
    """Execute one notebook with papermill at ``preset``, then convert it to HTML.

    Parameters: ``path``: the notebook; ``out_dir``: where the executed notebook,
    its HTML page, its metrics and its run record go; ``preset``: the preset injected;
    ``pretrained``: also inject ``pretrained=True`` where the notebook has that parameter
    (05-10: load the shipped model instead of training).
    """
    import nbformat
    import papermill as pm
    from nbconvert import HTMLExporter

    out_nb = out_dir / path.name
    row = {"notebook": path.stem, "status": "ok", "error": "", "wall_s": None}
    run = {"notebook": path.stem, "preset": preset, "status": "running", "started": _now()}
    for stale in (f"{path.stem}.metrics.json", f"{path.stem}.html", path.name):
        (out_dir / stale).unlink(missing_ok=True)  # never show the last run's as this one's
    os.environ["COURSE_WIDGETS"] = "0"  # the kernel inherits it: a report has no live front end
    _write_run(out_dir, path.stem, run)
    parameters = {"preset": preset}
    if pretrained and "pretrained" in pm.inspect_notebook(str(path)):
        parameters["pretrained"] = True
    start = time.perf_counter()
    try:
        pm.execute_notebook(
            str(path), str(out_nb), parameters=parameters,
            cwd=str(path.parent), progress_bar=False, kernel_name="python3",
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1][:300]}"
    row["wall_s"] = round(time.perf_counter() - start, 1)
    run.update(status=row["status"], error=row["error"], finished=_now(), wall_s=row["wall_s"])
    _write_run(out_dir, path.stem, run)
    if out_nb.exists():
        body, _ = HTMLExporter().from_notebook_node(nbformat.read(out_nb, as_version=4))
        (out_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
    record, _ = read_results(out_dir, path.stem)
    if record is not None:
        row.update(record)
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
    """Write ``index.html``: one table row per notebook.

    Parameters: ``rows``: what :func:`run_one` returned per notebook; ``out_dir``:
    the folder of the reports; ``preset``: the preset they ran at (for the title).
    """
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
    """Run the selected notebooks and write the index; 0 if all succeeded.

    Parameters: ``argv``: command-line arguments (None: ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m course_utils.reports", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default=None, help="ci, binder (default) or full")
    parser.add_argument("--notebooks", nargs="*", help="only these (name prefixes, e.g. 01 06)")
    parser.add_argument("--out", default=None, help="reports folder (default: $COURSE_REPORTS_DIR or reports/)")
    parser.add_argument("--pretrained", action="store_true",
                        help="05-10 load the course's pretrained models instead of training")
    args = parser.parse_args(argv)
    try:
        preset = config.current_preset(args.preset)
        paths = notebooks(args.notebooks)
    except config.ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = (Path(args.out) if args.out else config.reports_dir()).resolve() / preset
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a file in its place, or a folder we may not write to
        print(f"error: cannot create the reports folder {out_dir} ({err.strerror or err}); "
              "choose another with --out or COURSE_REPORTS_DIR", file=sys.stderr)
        return 2
    os.environ["COURSE_REPORTS_DIR"] = str(out_dir)  # the kernels record their metrics here
    rows = []
    for path in paths:
        print(f"running {path.name} at {preset} ...", flush=True)
        row = run_one(path, out_dir, preset, pretrained=args.pretrained)
        print(f"  {row['status']} in {row['wall_s']} s {row['error']}", flush=True)
        rows.append(row)
    index = write_index(rows, out_dir, preset)
    print(f"wrote {index}")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
