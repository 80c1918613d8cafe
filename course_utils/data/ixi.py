"""IXI: the real brain MR database, downloaded on request (never by default).

``load("ixi", preset, site="HH", modalities=("t1",))`` downloads ``IXI-T1.tar``
(and ``IXI-T2.tar`` / ``IXI-PD.tar`` when asked; several GB each) and the
demographics ``IXI.xls`` with pooch, with a progress bar. Downloads resume
after an interruption (HTTP range requests into a ``.part`` file), land under
their final name only once complete, and are hash-checked: IXI publishes no
checksums, so the SHA-256 of each file is recorded on the first successful
download and every later use is verified against it (delete
``downloads/hashes.json`` if the server's files legitimately change).

Archives are extracted safely (regular files only; nothing may land outside
the target folder). Kept: one site (``HH`` = Hammersmith by default, as DLTK;
also ``Guys``, ``IOP``), subjects having every requested modality and an age
and sex in the table, the first ``n_subjects`` of them (default: the preset's).
The ``.xls`` becomes ``demographics.csv`` with the IXI columns. Each image is
also resampled (B-spline) to 1 mm and 2 mm isotropic under ``resampled_1mm/``
and ``resampled_2mm/`` (option ``resample_to``), as DLTK did.

Note: IXI's T1, T2 and PD are not acquired on one voxel grid, so
:func:`~course_utils.data.check_subject` will report their geometries differ;
``standardize=True`` gives them one shape, not one alignment.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from course_utils import checks, config
from course_utils.data import _cache, _common
from course_utils.errors import (
    CorruptFileError,
    DataError,
    DiskFullError,
    DownloadError,
    is_disk_full,
)
from course_utils.files import atomic_dir, atomic_path, remove_partials

BASE_URL = "http://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/"
ARCHIVES = {"t1": "IXI-T1.tar", "t2": "IXI-T2.tar", "pd": "IXI-PD.tar"}
MODALITY_TAGS = {"t1": "T1", "t2": "T2", "pd": "PD"}
DEMOGRAPHICS = "IXI.xls"
DOWNLOADED = "downloaded.json"  # names the course downloaded itself: the only ones it deletes
SITES = ("HH", "Guys", "IOP")
# IXI publishes no checksums: hashes are recorded on first download (downloads/hashes.json).
PUBLISHED_HASHES: dict[str, str | None] = {name: None for name in [*ARCHIVES.values(),
                                                                    DEMOGRAPHICS]}
OPTIONS = ("site", "modalities", "base_url", "n_subjects", "resample_to", "spacing",
           "demographics_file", "workers", "timeout")


class ResumableDownloader:
    """A pooch downloader that resumes into ``<final>.part`` with HTTP range requests.

    Parameters: ``part``, the partial file; ``progress``, show a bar; ``timeout`` in seconds.
    """

    def __init__(self, part: Path, progress: bool = True, timeout: float = 60.0) -> None:
        self.part = Path(part)
        self.progress = progress
        self.timeout = timeout
        self.downloaded = False  # set once a file has been fetched (so the course made it)

    def __call__(self, url: str, output_file: str, pooch_obj: Any = None,
                 check_only: bool = False) -> bool | None:
        import requests

        from course_utils.environment import progress_bar

        if check_only:
            return True
        self.part.parent.mkdir(parents=True, exist_ok=True)
        done = self.part.stat().st_size if self.part.exists() else 0
        headers = {"Range": f"bytes={done}-"} if done else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=self.timeout) as resp:
                if resp.status_code == 416 and done:  # nothing left: the part is complete
                    total = done
                else:
                    if resp.status_code == 404:
                        raise DownloadError(
                            f"{url} was not found (HTTP 404); check the `base_url` option "
                            f"(default {BASE_URL}) and your network, then run again"
                        )
                    resp.raise_for_status()
                    if resp.status_code != 206:  # server ignored the range: start over
                        done = 0
                    length = resp.headers.get("Content-Length")
                    total = done + int(length) if length is not None else None
                    mode = "ab" if done else "wb"
                    with open(self.part, mode) as handle, progress_bar(
                        total=total, initial=done, unit="B", unit_scale=True,
                        desc=Path(url).name, disable=not self.progress,
                    ) as bar:
                        for chunk in resp.iter_content(1 << 16):
                            handle.write(chunk)
                            bar.update(len(chunk))
        except DownloadError:
            raise
        except (requests.RequestException, OSError) as exc:
            if is_disk_full(exc):
                raise DiskFullError(f"the disk is full while downloading {url} into {self.part}; "
                                    "free some space and run again (it resumes)",
                                    path=self.part) from None
            raise DownloadError(
                f"downloading {url} failed ({type(exc).__name__}: {exc}); "
                f"{self._got()} kept in {self.part}; run again to resume"
            ) from None
        got = self.part.stat().st_size
        if total is not None and got != total:
            raise DownloadError(
                f"the connection dropped while downloading {url}: {got} of {total} bytes; "
                f"the partial file {self.part} is never used as is - run again to resume"
            )
        shutil.move(str(self.part), output_file)
        self.downloaded = True
        return None

    def _got(self) -> str:
        size = self.part.stat().st_size if self.part.exists() else 0
        return f"{size} bytes"


def sha256(path: Path) -> str:
    """The SHA-256 hex digest of the file at ``path``, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(name: str, downloads: Path, base_url: str, progress: bool = True,
          timeout: float = 60.0) -> Path:
    """Download ``name`` (or reuse it) and verify it against the published/recorded hash.

    Parameters: ``downloads``, the folder; ``base_url``; ``progress``; ``timeout`` in seconds.
    """
    import pooch

    registry_path = downloads / "hashes.json"
    registry = _common.read_json(registry_path) or {}
    known = PUBLISHED_HASHES.get(name) or registry.get(name)
    url = base_url.rstrip("/") + "/" + name
    target = downloads / name
    downloader = ResumableDownloader(downloads / f"{name}.part", progress, timeout)
    try:
        path = Path(pooch.retrieve(url, known_hash=f"sha256:{known}" if known else None,
                                   fname=name, path=downloads, downloader=downloader,
                                   progressbar=False))
    except ValueError as exc:  # pooch: hash mismatch; it has removed the new download
        if _downloaded_here(name, downloads):
            target.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} does not match the SHA-256 recorded for it ({known[:12]}...): {exc}. "
            "Nothing was kept. Run again to retry; if the server's file really changed, "
            f"delete {registry_path}"
        ) from None
    if downloader.downloaded and not _downloaded_here(name, downloads):
        _common.write_json(downloads / DOWNLOADED,
                           sorted({*(_common.read_json(downloads / DOWNLOADED) or []), name}))
    if not known:
        registry[name] = sha256(path)
        _common.write_json(registry_path, registry)
    return path


def _downloaded_here(name: str, downloads: Path) -> bool:
    """Whether the course downloaded ``name`` itself (only then may it delete the file)."""
    return name in (_common.read_json(downloads / DOWNLOADED) or [])


def _forget(name: str, downloads: Path) -> None:
    """Remove a bad download and its recorded hash so that the next run fetches it afresh."""
    if _downloaded_here(name, downloads):
        (downloads / name).unlink(missing_ok=True)
    registry = _common.read_json(downloads / "hashes.json") or {}
    if name in registry and not PUBLISHED_HASHES.get(name):
        registry.pop(name)
        _common.write_json(downloads / "hashes.json", registry)


def safe_members(tar: tarfile.TarFile, target: Path, wanted: set[str]) -> list[tarfile.TarInfo]:
    """Regular-file members of ``tar`` in ``wanted`` whose paths stay inside ``target``."""
    root = target.resolve()
    members = []
    for member in tar.getmembers():
        name = Path(member.name).name
        if name not in wanted or not member.isfile():
            continue
        dest = (root / member.name).resolve()
        if root not in dest.parents:
            raise DataError(f"archive member {member.name!r} would escape {target}; refusing "
                            "to extract - the archive is not a genuine IXI file, delete it")
        members.append(member)
    return members


def extract(archive: Path, target: Path, wanted: set[str]) -> None:
    """Safely extract the wanted files of ``archive`` flat into ``target`` (atomically)."""
    try:
        with tarfile.open(archive) as tar, atomic_dir(target) as tmp:
            for member in safe_members(tar, tmp, wanted):
                src = tar.extractfile(member)
                if src is None:
                    continue
                with atomic_path(tmp / Path(member.name).name) as out, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    except (tarfile.TarError, EOFError, OSError) as exc:
        if is_disk_full(exc):
            raise
        raise CorruptFileError(f"{archive} is corrupt or truncated ({_one_line(exc)})",
                               path=archive) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def list_archive(archive: Path) -> list[str]:
    """File names in the tar ``archive``; CorruptFileError if it cannot be read."""
    try:
        with tarfile.open(archive) as tar:
            return [Path(m.name).name for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise CorruptFileError(f"{archive} is corrupt or truncated ({_one_line(exc)})",
                               path=archive) from None


def read_member(src: str | Path, archive: str | Path, header_only: bool = False) -> Any:
    """Read ``src``, extracted from ``archive``; if it is bad, the archive is (CorruptFileError).

    ``header_only`` reads only the header.
    """
    try:
        return _common.read_image(src, header_only=header_only)
    except DataError as exc:
        reason = str(exc).split(";")[0].replace(str(src), Path(src).name)
        raise CorruptFileError(f"{archive} is corrupt or truncated: its member {reason}",
                               path=str(archive)) from None


def resolve_options(preset: str, options: dict[str, Any]) -> dict[str, Any]:
    """Check the IXI options and merge them over the preset's defaults."""
    _cache.check_option_names(options, OPTIONS, "ixi")
    defaults = {"site": "HH", "modalities": ("t1",), "resample_to": (1.0, 2.0),
                "n_subjects": config.COMMON[preset]["n_subjects"], "base_url": BASE_URL,
                "spacing": config.COMMON[preset]["spacing"], "demographics_file": DEMOGRAPHICS,
                "timeout": 60.0, "workers": None}
    opts = {k: defaults[k] if options.get(k) is None else options[k] for k in defaults}
    mods = opts["modalities"]
    mods = (mods,) if isinstance(mods, str) else tuple(mods)
    sizes = opts["resample_to"]
    sizes = (sizes,) if isinstance(sizes, (int, float)) else tuple(sizes)
    return {
        "site": checks.option(opts["site"], SITES, "IXI site"),
        "modalities": [checks.option(m, list(ARCHIVES), "IXI modality") for m in mods],
        "n_subjects": checks.integer(opts["n_subjects"], "n_subjects", minimum=1),
        "base_url": str(opts["base_url"]),
        "resample_to": [checks.number(s, "resample_to (mm)", minimum=0.1, maximum=10.0)
                        for s in sizes],
        "spacing": checks.number(opts["spacing"], "spacing", minimum=0.5, maximum=8.0),
        "demographics_file": str(opts["demographics_file"]),
        "timeout": checks.number(opts["timeout"], "timeout (seconds)", minimum=0, open_min=True),
        "workers": _cache.workers_option(opts["workers"]),
    }


# 2: resample_isotropic smooths axes whose voxels grow (anti-aliasing), so IXI's 1.2 mm
# scans resampled to coarser grids differ from version 1's.
RESAMPLING_VERSION = 2


def _resample_task(task: dict[str, Any]) -> None:
    from course_utils.preprocessing import resample_isotropic

    image = read_member(task["src"], task["archive"])
    _common.write_image(resample_isotropic(image, task["spacing"]), task["dst"])


def load(preset: str, *, dest: Path | None = None, progress: bool = True,
         **options: Any) -> pd.DataFrame:
    """Download (once), extract, select, convert demographics, resample; return the table.

    Parameters: ``preset``, ``"ci"``, ``"binder"`` or ``"full"``; ``dest``, the folder to
    write (default: the cache); ``progress``, print progress; ``options``, see :data:`OPTIONS`.
    """
    opts = resolve_options(preset, options)
    base = Path(dest) if dest is not None else config.data_dir() / "ixi"
    downloads = base / "downloads"
    root = base / f"{opts['site']}_{'_'.join(opts['modalities'])}_n{opts['n_subjects']}"
    downloads.mkdir(parents=True, exist_ok=True)

    with _common.folder_lock(downloads):
        remove_partials(downloads)  # temporaries of a killed run (not the resumable .part)
        demo_file = fetch(opts["demographics_file"], downloads, opts["base_url"], progress,
                          opts["timeout"])
        archives = {m: fetch(ARCHIVES[m], downloads, opts["base_url"], progress, opts["timeout"])
                    for m in opts["modalities"]}
    registry = _common.read_json(downloads / "hashes.json") or {}
    params = {key: opts[key] for key in ("site", "modalities", "n_subjects", "resample_to")}
    params["hashes"] = {p.name: registry.get(p.name) for p in [demo_file, *archives.values()]}
    params["resampling"] = RESAMPLING_VERSION  # a new resampler rebuilds the resampled copies

    try:
        _cache.build_once(root, params,
                          lambda: _prepare(root, params, opts, demo_file, archives, progress))
    except CorruptFileError as exc:  # a bad download: delete it, so that a rerun fetches it
        bad = [p for p in [demo_file, *archives.values()] if str(p) == exc.path]
        if not bad:
            raise
        with _common.folder_lock(downloads):
            ours = _downloaded_here(bad[0].name, downloads)
            _forget(bad[0].name, downloads)
        what = ("it has been deleted - run again to download it afresh" if ours else
                "it was not downloaded by the course, so it is left alone: replace it with a "
                "good copy, or delete it and run again to download it")
        raise CorruptFileError(f"{exc}; {what}", path=exc.path) from None
    manifest = _common.read_json(root / _common.MANIFEST)
    df = pd.DataFrame(manifest["rows"])
    for col in ["t1", "t2", "pd"]:
        if col in df:
            df[col] = [str(root / p) for p in df[col]]
    df["label"] = None
    df = df[["subject_id", *opts["modalities"], "label", "age", "sex"]]
    df["split"] = _common.assign_splits(list(df["sex"]), list(df["age"]), list(df["subject_id"]))
    df.attrs.update(name="ixi", sequences=list(opts["modalities"]), spacing=opts["spacing"],
                    root=str(root), site=opts["site"],
                    resampled={f"{s:g}mm": str(root / f"resampled_{s:g}mm")
                               for s in opts["resample_to"]})
    return df


def _select(table: pd.DataFrame, archives: dict[str, Path], opts: dict[str, Any],
            demo_file: Path) -> tuple[dict[str, dict[str, str]], list[tuple[str, int]]]:
    """The archives' file per subject and modality, and the first ``n_subjects`` usable ones."""
    names = {m: list_archive(a) for m, a in archives.items()}
    subjects: dict[str, dict[str, str]] = {}
    for mod, files in names.items():
        tag = f"-{MODALITY_TAGS[mod]}.nii.gz"
        for fname in files:
            if not fname.endswith(tag):
                continue
            sid = fname[: -len(tag)]
            parts = sid.split("-")
            if len(parts) < 2 or parts[1] != opts["site"]:
                continue
            subjects.setdefault(sid, {})[mod] = fname
    selected = []
    for sid in sorted(subjects):
        try:
            ixi_id = int(sid.split("-")[0].removeprefix("IXI"))
        except ValueError:
            continue
        if set(subjects[sid]) == set(opts["modalities"]) and ixi_id in table.index:
            selected.append((sid, ixi_id))
    selected = selected[: opts["n_subjects"]]
    if not selected:
        raise DataError(f"no IXI subject of site {opts['site']} has all of "
                        f"{opts['modalities']} and demographics in {demo_file}")
    return subjects, selected


def _prepare(root: Path, params: dict[str, Any], opts: dict[str, Any], demo_file: Path,
             archives: dict[str, Path], progress: bool) -> None:
    """Extract, check and resample the selected subjects into ``root``; manifest last."""
    _common.reset_folder(root)
    table = _common.read_demographics(demo_file)
    table = table.dropna(subset=["AGE", "SEX_ID (1=m, 2=f)"])
    table = table.drop_duplicates(subset="IXI_ID", keep="first").set_index("IXI_ID")
    subjects, selected = _select(table, archives, opts, demo_file)
    raw = root / "raw"
    for mod, archive in archives.items():
        wanted = {subjects[sid][mod] for sid, _ in selected}
        extract(archive, raw / mod, wanted)
    rows, tasks, written = [], [], []
    for sid, ixi_id in selected:
        entry = table.loc[ixi_id]
        row: dict[str, Any] = {"subject_id": sid, "ixi_id": ixi_id,
                               "age": float(entry["AGE"]),
                               "sex": _common.sex_from_code(entry["SEX_ID (1=m, 2=f)"])}
        for mod in opts["modalities"]:
            src = raw / mod / subjects[sid][mod]
            read_member(src, archives[mod], header_only=True)  # a clear error if unreadable
            row[mod] = str(src.relative_to(root))
            written.append(src)
            for s in params["resample_to"]:
                dst = root / f"resampled_{s:g}mm" / sid / f"{MODALITY_TAGS[mod]}.nii.gz"
                tasks.append({"src": str(src), "dst": str(dst), "spacing": s,
                              "archive": str(archives[mod])})
                written.append(dst)
        rows.append(row)
    _common.parallel_map(_resample_task, tasks, workers=opts["workers"], progress=progress,
                         desc="resampling IXI")
    demo = pd.DataFrame({"IXI_ID": [r["ixi_id"] for r in rows],
                         "SEX_ID (1=m, 2=f)": [1 if r["sex"] == "M" else 2 for r in rows],
                         "AGE": [r["age"] for r in rows]})
    with atomic_path(root / "demographics.csv") as tmp:
        demo.to_csv(tmp, index=False)
    written.append(root / "demographics.csv")
    _common.write_json(root / _common.MANIFEST, {
        "params": params,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z") + f"/{time.time_ns()}",
        "files": _common.file_entries(root, written),
        "rows": rows,
    })
