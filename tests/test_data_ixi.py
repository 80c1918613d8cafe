"""IXI end to end against a real HTTP server on 127.0.0.1, including faults.

The server serves a small IXI-shaped tar and demographics table built here. The
demographics are a .csv (no .xls writer is installed; the reader accepts .xls via
xlrd, .xlsx and .csv), selected with the ``demographics_file`` option.
"""

from __future__ import annotations

import http.server
import io
import json
import tarfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from course_utils import data
from course_utils.data import ixi
from course_utils.errors import ConfigError, CorruptFileError, DataError, DownloadError

pytestmark = pytest.mark.network

SUBJECTS = [("IXI002-HH-0828", 2, 1, 35.8), ("IXI012-HH-1211", 12, 2, 38.8),
            ("IXI013-HH-1212", 13, 1, 46.7), ("IXI014-HH-1236", 14, 2, 34.2),
            ("IXI015-HH-1258", 15, 1, 24.3), ("IXI016-Guys-0697", 16, 1, 55.2),
            ("IXI017-HH-1259", 17, 2, 29.1), ("IXI019-HH-1277", 19, 2, 58.2),
            ("IXI020-HH-1338", 20, 1, 39.5), ("IXI021-HH-1339", 21, 2, 44.3),
            ("IXI022-HH-1340", 22, 1, 61.0), ("IXI023-HH-1341", 23, 2, 70.1)]


def _nifti_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.integers(0, 500, (20, 24, 16)).astype(np.int16))
    image.SetSpacing((0.94, 0.94, 1.2))
    image = sitk.DICOMOrient(image, "PIR")
    path = Path(f"/tmp/_ixi_test_{seed}_{threading.get_ident()}.nii.gz")
    sitk.WriteImage(image, str(path))
    blob = path.read_bytes()
    path.unlink()
    return blob


def _tar(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, blob in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


class Server:
    """A threaded http.server with Range support and switchable faults."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.fault: str | None = None  # "drop", "404"
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                outer.requests.append((name, rng))
                blob = outer.files.get(name)
                if blob is None or outer.fault == "404":
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = blob[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(blob) - 1}/{len(blob)}")
                self.end_headers()
                if outer.fault == "drop" and name.endswith(".tar"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/ixi/"

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    entries = {f"{sid}-T1.nii.gz": _nifti_bytes(i) for i, (sid, *_rest) in enumerate(SUBJECTS)}
    entries["IXI099-HH-9999-T1.nii.gz"] = _nifti_bytes(99)  # no demographics: dropped
    demo = pd.DataFrame({
        "IXI_ID": [s[1] for s in SUBJECTS] + [2],  # a duplicate row, as in the real table
        "SEX_ID (1=m, 2=f)": [s[2] for s in SUBJECTS] + [1],
        "HEIGHT": 170, "WEIGHT": 70,
        "AGE": [s[3] for s in SUBJECTS] + [35.8],
    })
    files = {"IXI-T1.tar": _tar(entries), "IXI.csv": demo.to_csv(index=False).encode()}
    with Server(files) as srv:
        yield srv


def _load(srv: Server, dest: Path, **kw):
    kw.setdefault("workers", 1)  # tiny files: no worker processes
    return data.load("ixi", "ci", dest=dest, base_url=srv.url, demographics_file="IXI.csv",
                     progress=False, **kw)


def test_end_to_end(server: Server, tmp_path: Path) -> None:
    df = _load(server, tmp_path)
    assert list(df.columns) == ["subject_id", "t1", "label", "age", "sex", "split"]
    hh = [s for s in SUBJECTS if "-HH-" in s[0]]
    assert list(df["subject_id"]) == [s[0] for s in hh]  # one site, with demographics
    assert df["label"].isna().all() and set(df["sex"]) == {"M", "F"}
    assert df.loc[0, "age"] == pytest.approx(35.8) and df.loc[0, "sex"] == "M"
    assert (df["split"] == "val").sum() >= 2 and (df["split"] == "test").sum() >= 2
    assert df.attrs["sequences"] == ["t1"] and df.attrs["name"] == "ixi"
    for _, row in df.iterrows():
        data.check_subject(row)
    table = data.read_demographics(Path(df.attrs["root"]) / "demographics.csv")
    assert list(table.columns[:3]) == ["IXI_ID", "SEX_ID (1=m, 2=f)", "AGE"]
    # resampled copies at 1 mm and 2 mm, physically consistent
    for mm in ("1mm", "2mm"):
        image = sitk.ReadImage(str(Path(df.attrs["resampled"][mm]) / df.loc[0, "subject_id"]
                                   / "T1.nii.gz"))
        assert image.GetSpacing() == pytest.approx((float(mm[0]),) * 3)
    # hashes were recorded, and a second load downloads nothing
    hashes = json.loads((tmp_path / "downloads" / "hashes.json").read_text(encoding="utf-8"))
    assert set(hashes) == {"IXI-T1.tar", "IXI.csv"}
    before = len(server.requests)
    again = _load(server, tmp_path)
    assert len(server.requests) == before
    pd.testing.assert_frame_equal(again, df)
    std = data.load("ixi", "ci", dest=tmp_path, base_url=server.url, workers=1,
                    demographics_file="IXI.csv", progress=False, standardize=True)
    assert len({sitk.ReadImage(p).GetSize() for p in std["t1"]}) == 1


def test_dropped_connection_then_resume(server: Server, tmp_path: Path) -> None:
    server.fault = "drop"
    with pytest.raises(DownloadError, match=r"IXI-T1\.tar.*(dropped|failed).*run again"):
        _load(server, tmp_path)
    assert not (tmp_path / "downloads" / "IXI-T1.tar").exists()  # nothing partial trusted
    assert (tmp_path / "downloads" / "IXI-T1.tar.part").stat().st_size > 0
    server.fault = None
    df = _load(server, tmp_path)
    assert len(df) == 11
    assert any(name == "IXI-T1.tar" and rng for name, rng in server.requests)  # resumed
    assert not (tmp_path / "downloads" / "IXI-T1.tar.part").exists()


def test_404_is_a_download_error(server: Server, tmp_path: Path) -> None:
    server.fault = "404"
    with pytest.raises(DownloadError, match=r"404.*base_url"):
        _load(server, tmp_path)
    server.fault = None
    assert len(_load(server, tmp_path)) == 11


def test_corrupt_archive_is_deleted_then_retry_succeeds(server: Server, tmp_path: Path) -> None:
    good = server.files["IXI-T1.tar"]
    server.files["IXI-T1.tar"] = b"this is not a tar archive" * 100
    with pytest.raises(DataError, match=r"IXI-T1\.tar is corrupt.*run again"):
        _load(server, tmp_path)
    assert not (tmp_path / "downloads" / "IXI-T1.tar").exists()
    hashes = json.loads((tmp_path / "downloads" / "hashes.json").read_text(encoding="utf-8"))
    assert "IXI-T1.tar" not in hashes
    server.files["IXI-T1.tar"] = good
    assert len(_load(server, tmp_path)) == 11


def test_truncated_member_deletes_the_archive_so_a_rerun_heals(server: Server,
                                                               tmp_path: Path) -> None:
    """A member cut short inside a complete tar: deleting the extracted file would only
    extract it again; the advice must work, so the archive itself is deleted."""
    good = server.files["IXI-T1.tar"]
    with tarfile.open(fileobj=io.BytesIO(good)) as tar:
        entries = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    name = "IXI012-HH-1211-T1.nii.gz"
    entries[name] = entries[name][: len(entries[name]) // 2]
    server.files["IXI-T1.tar"] = _tar(entries)
    with pytest.raises(CorruptFileError, match=r"IXI-T1\.tar is corrupt.*IXI012-HH-1211.*deleted"
                       r".*run again") as info:
        _load(server, tmp_path)
    assert info.value.path == str(tmp_path / "downloads" / "IXI-T1.tar")
    assert not (tmp_path / "downloads" / "IXI-T1.tar").exists()
    server.files["IXI-T1.tar"] = good  # the next download is whole
    assert len(_load(server, tmp_path)) == 11


def test_a_corrupt_archive_the_user_placed_is_left_alone(server: Server, tmp_path: Path) -> None:
    """Only what the course downloaded itself is deleted; a copy you placed is yours."""
    placed = tmp_path / "downloads" / "IXI-T1.tar"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"copied from a colleague, truncated" * 50)
    with pytest.raises(CorruptFileError, match=r"IXI-T1\.tar is corrupt.*left alone.*good copy"):
        _load(server, tmp_path)
    assert placed.read_bytes() == b"copied from a colleague, truncated" * 50


def test_bad_option_values_are_config_errors() -> None:
    for options, name in [({"n_subjects": -5}, "n_subjects"), ({"workers": "abc"}, "workers"),
                          ({"timeout": 0}, "timeout"), ({"resample_to": ["x"]}, "resample_to"),
                          ({"site": "hh"}, "site")]:
        with pytest.raises(ConfigError, match=name):
            data.load("ixi", "ci", **options)


def test_hash_mismatch_keeps_nothing(server: Server, tmp_path: Path) -> None:
    _load(server, tmp_path)  # records the hashes
    archive = tmp_path / "downloads" / "IXI-T1.tar"
    archive.write_bytes(archive.read_bytes()[:-10] + b"0123456789")  # damaged on disk
    good = server.files["IXI-T1.tar"]
    server.files["IXI-T1.tar"] = good[:-10] + b"abcdefghij"  # and the server now differs
    with pytest.raises(DownloadError, match=r"IXI-T1\.tar.*SHA-256.*Nothing was kept"):
        _load(server, tmp_path, n_subjects=3)
    assert not archive.exists()
    server.files["IXI-T1.tar"] = good
    assert len(_load(server, tmp_path, n_subjects=3)) == 3


def test_unsafe_archive_is_refused(server: Server, tmp_path: Path) -> None:
    bad = _tar({"../../evil-T1.nii.gz": b"x", "IXI002-HH-0828-T1.nii.gz": _nifti_bytes(1)})
    with tarfile.open(fileobj=io.BytesIO(bad)) as tar:
        with pytest.raises(DataError, match="escape"):
            ixi.safe_members(tar, tmp_path / "out", {"evil-T1.nii.gz"})
    assert not (tmp_path.parent / "evil-T1.nii.gz").exists()


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="site"):
        data.load("ixi", "ci", site="Mars")
    with pytest.raises(ConfigError, match="modality"):
        data.load("ixi", "ci", modalities=("dwi",))
    with pytest.raises(ConfigError, match="base_url"):
        data.load("ixi", "ci", baseurl="http://x")
