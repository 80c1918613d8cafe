"""Command line: ``python -m course_utils data NAME --preset P [--dest DIR]``.

Subcommands are registered in :data:`COMMANDS`; errors a learner can fix
(:class:`~course_utils.errors.CourseError`) print one clean line and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from course_utils.errors import CourseError


def _disk_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 1e6


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    """Add the ``data`` command to ``sub``, the subparsers of :func:`main`."""
    from course_utils.data import DATASETS

    p = sub.add_parser("data", help="generate or download a dataset into the cache",
                       description="Prepare a dataset (cached) and print a summary.")
    p.add_argument("name", help=f"dataset: {', '.join(DATASETS)}")
    p.add_argument("--preset", default=None, help="ci, binder or full (default: $COURSE_PRESET "
                   "or binder)")
    p.add_argument("--dest", default=None, help="a new or empty folder to write to (default: the "
                   "cache under $COURSE_DATA_DIR or data/); a folder holding your own files is "
                   "refused, never emptied")
    p.add_argument("--standardize", action="store_true",
                   help="also write the standardized copy (LPS, isotropic, one shape)")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="dataset option, e.g. -o n_subjects=8 -o seed=1 -o modalities=t1,t2 "
                   "(repeatable)")
    p.set_defaults(func=run_data)


def _parse_value(text: str) -> object:
    """``"8"`` -> 8, ``"2.5"`` -> 2.5, ``"t1,t2"`` -> ["t1", "t2"], else the text (checked later)."""
    if "," in text:
        return [_parse_value(part.strip()) for part in text.split(",") if part.strip()]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def run_data(args: argparse.Namespace) -> int:
    """Prepare the dataset of ``args`` (name, preset, dest, standardize, option) and summarise it."""
    import SimpleITK as sitk

    from course_utils import data
    from course_utils.errors import ConfigError

    options = {}
    for item in args.option:
        if "=" not in item:
            raise ConfigError(f"option {item!r} must look like KEY=VALUE")
        key, value = item.split("=", 1)
        options[key.strip()] = _parse_value(value.strip())
    df = data.load(args.name, args.preset, dest=args.dest, progress=True,
                   standardize=args.standardize, **options)
    seqs = df.attrs["sequences"]
    first = sitk.ReadImage(df[seqs[0]].iloc[0])
    files = [Path(p) for c in [*seqs, "label"] for p in df[c] if isinstance(p, str)]
    splits = ", ".join(f"{k} {v}" for k, v in df["split"].value_counts().items())
    sexes = ", ".join(f"{k} {v}" for k, v in df["sex"].value_counts().items())
    ages = df["age"].dropna()
    print(f"dataset   {df.attrs['name']} (preset {df.attrs['preset']})")
    print(f"folder    {df.attrs['root']}")
    print(f"subjects  {len(df)} ({splits}; {sexes})")
    if len(ages):
        print(f"ages      {ages.min():.0f}-{ages.max():.0f} years")
    print(f"sequences {', '.join(seqs)}; labels {'yes' if df['label'].notna().any() else 'no'}")
    print(f"shape     {list(first.GetSize())} (x, y, z; first subject)")
    print(f"spacing   {[round(s, 2) for s in first.GetSpacing()]} mm (first subject); "
          f"nominal {df.attrs['spacing']:g} mm")
    print(f"disk      {_disk_mb(files):.1f} MB in {len(files)} files")
    return 0


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_data_parser]


def main(argv: list[str] | None = None) -> int:
    """Run the command in ``argv`` (default: ``sys.argv[1:]``); 2 on a CourseError, else 0."""
    parser = argparse.ArgumentParser(prog="python -m course_utils",
                                     description="Helpers of the 3D biomedical deep learning course.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CourseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing half-written is kept, run the command again to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
