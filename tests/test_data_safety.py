"""The data package never loses data and never hangs: real folders, real processes, real locks.

Every cohort here is one to a few subjects at 8 mm, generated once per test that needs it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from _helpers import snapshot

from course_utils import data
from course_utils.__main__ import main
from course_utils.data import _cache
from course_utils.errors import ConfigError, CourseError, DataError

pytestmark = pytest.mark.slow  # starts, kills and times out real worker processes

REPO = Path(__file__).resolve().parents[1]
TINY = {"n_subjects": 1, "spacing": 8, "seed": 0, "workers": 1, "progress": False}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "COURSE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO)}
    env.update(extra)
    return env


def _user_folder(path: Path) -> Path:
    (path / "chapter2").mkdir(parents=True)
    (path / "thesis.tex").write_text("years of work", encoding="utf-8")
    (path / "chapter2" / "figure.png").write_bytes(b"\x89PNG")
    return path


# --- data loss -------------------------------------------------------------------------


def test_dest_with_files_of_the_user_is_refused_not_emptied(tmp_path: Path) -> None:
    thesis = _user_folder(tmp_path / "thesis")
    before = snapshot(thesis)
    with pytest.raises(DataError, match=r"thesis already holds files that course_utils did not "
                       r"create.*new or empty folder") as info:
        data.load("synthetic", "ci", dest=thesis, **TINY)
    assert info.value.path == str(thesis)
    assert snapshot(thesis) == before
    assert [p.name for p in tmp_path.iterdir()] == ["thesis"]  # not even a lock file beside it


def test_cli_dest_data_dir_keeps_the_ixi_downloads(tmp_path: Path, capsys) -> None:
    """`--dest $COURSE_DATA_DIR` used to wipe the data folder, IXI downloads included."""
    data_dir = tmp_path / "data"
    (data_dir / "ixi" / "downloads").mkdir(parents=True)
    (data_dir / "ixi" / "downloads" / "IXI-T1.tar").write_bytes(b"4.5 GB, in spirit")
    before = snapshot(data_dir)
    code = main(["data", "synthetic", "--preset", "ci", "--dest", str(data_dir),
                 "-o", "n_subjects=1", "-o", "spacing=8", "-o", "workers=1"])
    assert code == 2
    assert "did not create" in capsys.readouterr().err
    assert snapshot(data_dir) == before


def test_reset_folder_empties_only_folders_of_the_course(tmp_path: Path) -> None:
    thesis = _user_folder(tmp_path / "thesis")
    with pytest.raises(DataError, match="did not create"):
        _cache.reset_folder(thesis)
    assert (thesis / "thesis.tex").is_file()
    # an empty folder is adopted; a folder of the course is emptied, its marker kept
    ours = tmp_path / "ours"
    ours.mkdir()
    _cache.reset_folder(ours)
    (ours / "SYN0001").mkdir()
    _cache.reset_folder(ours)
    assert [p.name for p in ours.iterdir()] == [_cache.MARKER]


def test_a_cohort_folder_of_the_course_is_regenerated_in_place(tmp_path: Path) -> None:
    root = tmp_path / "cohort"
    first = data.load("synthetic", "ci", dest=root, **TINY)
    assert (root / _cache.MARKER).is_file()
    data.check_subject(first.iloc[0])  # 8 mm works (it found no lesion site before)
    umask = os.umask(0o022)
    os.umask(umask)
    for path in [first["t1"][0], root / "manifest.json", root / "demographics.csv"]:
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    other = data.load("synthetic", "ci", dest=root, **{**TINY, "seed": 1})
    assert list(other["age"]) != list(first["age"])
    # a cache written before markers existed is still recognised as the course's own
    (root / _cache.MARKER).unlink()
    again = data.load("synthetic", "ci", dest=root, **TINY)
    pd.testing.assert_frame_equal(again, first)


# --- hangs -----------------------------------------------------------------------------


def _run_script(path: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run a script in its own process group; on a hang kill the whole group and fail."""
    proc = subprocess.Popen([sys.executable, str(path)], env=env, cwd=path.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{path.name} hung for {timeout:g} s (deadlock)")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_unguarded_script_gets_an_error_not_a_deadlock(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        from course_utils import data
        df = data.load("synthetic", "ci", dest={str(tmp_path / 'cohort')!r}, n_subjects=4,
                       spacing=8, seed=0, workers=2, progress=False)
        print("loaded", len(df))
    """), encoding="utf-8")
    done = _run_script(script, _env(tmp_path), timeout=180)
    assert done.returncode != 0 and "loaded" not in done.stdout
    assert 'if __name__ == "__main__":' in done.stderr
    assert "worker process stopped abruptly" in done.stderr  # the parent's own error
    assert not (tmp_path / "cohort" / "manifest.json").exists()


def test_waiting_on_a_lock_names_its_holder_and_times_out(tmp_path: Path) -> None:
    root = tmp_path / "cohort"
    with _cache.folder_lock(root):
        done = subprocess.run(
            [sys.executable, "-m", "course_utils", "data", "synthetic", "--preset", "ci",
             "--dest", str(root), "-o", "n_subjects=1", "-o", "spacing=8"],
            env=_env(tmp_path, COURSE_LOCK_TIMEOUT="1"), capture_output=True, text=True,
            timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"waiting for process {os.getpid()}" in done.stderr
    assert ".cohort.lock" in done.stderr and "still being prepared" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".cohort.lock.json").exists()  # the holder's note is gone with it


def test_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    dest = tmp_path / "cohort"
    script = tmp_path / "generate.py"
    script.write_text(textwrap.dedent(f"""
        from course_utils import data
        if __name__ == "__main__":
            data.load("synthetic", "ci", dest={str(dest)!r}, n_subjects=16, spacing=8,
                      seed=0, workers=2, progress=False)
    """), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 150
        while not list(dest.glob("SYN*/done.json")):  # the workers are at work
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        children = psutil.Process(proc.pid).children(recursive=True)
        workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
        assert len(workers) == 2
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup code of the parent runs
        proc.wait()
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"still running after their parent was killed: {alive}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_ctrl_c_stops_the_workers_at_once(tmp_path: Path) -> None:
    """An interrupt used to wait for every queued subject (minutes at binder) before returning.

    400 small subjects: enough queued work that a loaded machine cannot finish them all
    between seeing the workers start and sending the interrupt (40 once did, under load).
    """
    psutil = pytest.importorskip("psutil")
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils", "data", "synthetic", "--preset", "ci", "--dest",
         str(tmp_path / "cohort"), "-o", "n_subjects=400", "-o", "spacing=8", "-o", "workers=2"],
        env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
        # as from a shell: a test process (an xdist worker, a kernel run before) may ignore
        # SIGINT, and an ignored signal stays ignored in a child, so Python would never raise
        # KeyboardInterrupt there
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len([c for c in psutil.Process(proc.pid).children()
                   if "spawn_main" in " ".join(c.cmdline())]) < 2:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C (or Jupyter's interrupt) sends the parent
        start = time.monotonic()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130 and "interrupted" in err
        assert time.monotonic() - start < 5, "waited for the queued subjects"
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# --- clear errors ----------------------------------------------------------------------


def test_read_only_data_folder(freezable_dir) -> None:
    folder, freeze = freezable_dir
    first = data.load("synthetic", "ci", dest=folder / "cohort", **TINY)
    std = data.load("synthetic", "ci", dest=folder / "cohort", standardize=True, **TINY)
    freeze()
    # an instructor's complete, shared, read-only copy is used as it is, standardized too
    pd.testing.assert_frame_equal(data.load("synthetic", "ci", dest=folder / "cohort", **TINY),
                                  first)
    pd.testing.assert_frame_equal(
        data.load("synthetic", "ci", dest=folder / "cohort", standardize=True, **TINY), std)
    with pytest.raises(DataError, match=r"cannot write to .*shared.*COURSE_DATA_DIR") as info:
        data.load("synthetic", "ci", dest=folder / "other", **TINY)
    assert info.value.path == str(folder)


@pytest.mark.parametrize("argv, message", [
    (["data", "synthtic"], "did you mean 'synthetic'"),
    (["data", "synthetic", "-o", "n_subject=2"], "did you mean 'n_subjects'"),
    (["data", "synthetic", "-o", "n_subjects=-5"], "n_subjects must be"),
    (["data", "synthetic", "-o", "n_subjects=5", "-o", "spacing=8", "-o", "workers=abc"],
     "workers must be"),
    (["data", "synthetic", "-o", "seed=-1"], "seed must be"),
    (["data", "synthetic", "-o", "spacing=nan"], "spacing must be"),
    (["data", "synthetic", "--dest", "FILE"], "is a file, not a folder"),
])
def test_cli_bad_input_is_one_clean_line(argv: list[str], message: str, tmp_path: Path,
                                         capsys) -> None:
    afile = tmp_path / "results.csv"
    afile.write_text("a,b\n", encoding="utf-8")
    argv = [str(afile) if a == "FILE" else a for a in argv]
    assert main([*argv[:2], "--preset", "ci", *argv[2:]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and len(err.splitlines()) == 1
    if "=" in argv[-1]:  # the offending option (or its value) is named
        key, value = argv[-1].split("=")
        assert (key if "did you mean" in message else value) in err
    assert afile.read_text(encoding="utf-8") == "a,b\n"


def test_load_checks_its_own_arguments(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="standardize must be True or False"):
        data.load("synthetic", "ci", standardize="yes")
    with pytest.raises(ConfigError, match="dest must be a folder path"):
        data.load("synthetic", "ci", dest=3)
    with pytest.raises(ConfigError, match="workers"):
        data.load("synthetic", "ci", workers=0)
    monkeypatch.setenv("COURSE_LOCK_TIMEOUT", "ten minutes")
    with pytest.raises(ConfigError, match=r"COURSE_LOCK_TIMEOUT .*'ten minutes'"):
        with _cache.folder_lock(tmp_path / "cohort"):
            pass
    monkeypatch.delenv("COURSE_LOCK_TIMEOUT")
    monkeypatch.chdir(_user_folder(tmp_path / "thesis"))
    with pytest.raises(DataError, match="thesis already holds"):  # ".", named
        data.load("synthetic", "ci", dest=".", **TINY)
    assert issubclass(ConfigError, CourseError)


def test_automatic_workers_fit_in_the_free_memory() -> None:
    """binder has 2 GB: eight 430 MB workers would be killed, which only shows as a broken pool."""
    free = _cache.available_mb()
    assert free is not None and free > 0
    assert _cache.n_workers(None, worker_mb=free * 10) == 1
    assert _cache.n_workers(None, worker_mb=free / 2) <= 2
    assert _cache.n_workers(3, worker_mb=free * 10) == 3  # an explicit request is kept
