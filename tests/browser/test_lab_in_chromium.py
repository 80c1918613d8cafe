"""The course as a learner meets it: `make lab` opened in a real browser (Debian's Chromium).

Run with `make browser` (installs Playwright and, where missing, Debian's chromium). The lab
runs at the ci preset on 127.0.0.1 with the venv's ``bin`` left off PATH (as a learner's
shell may leave it: what the lab and ``environment.tensorboard`` do about it is tested).
00's first cell is short and quiet; 01 runs whole, its slice viewer shows whole labels and
redraws when its slider is dragged with the mouse; 06 runs down to its TensorBoard cell,
which shows TensorBoard's UI with the run's loss curves; the console stays clean. Each check
is also shown to fail on what issue #13 found (a stderr block, a report-like static viewer,
"Could not find `tensorboard`"), reproduced in a cell the test adds (the notebooks on disk
are not changed: autosave is off). Everything the lab started (kernels, TensorBoard) is
stopped afterwards. Screenshots land in reports/browser/ to be looked at, not only asserted on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
import warnings
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "browser"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
DONE = re.compile(r"\[\d+\]")  # a cell's prompt once it has run: "[3]:"
NOT_RUN = re.compile(r"^\[\s*\]:?\s*$")  # a cell's prompt before it is queued: "[ ]:"
TENSORBOARD_CELL = 'environment.tensorboard(run_dir / "logs")'  # 06's cell, found by its source


@dataclasses.dataclass
class Lab:
    """A running `make lab`: its URL and token, and every process it started (kept to stop them).

    Parameters: ``base`` URL, ``token``, ``server`` (the `make lab` process, leader of its
    process group), ``started``: pid -> process, each process seen below the server.
    """

    base: str
    token: str
    server: subprocess.Popen
    started: dict[int, psutil.Process] = dataclasses.field(default_factory=dict)

    def track(self) -> None:
        """Remember every process now running below the server (kernels, TensorBoard, ...)."""
        for proc in psutil.Process(self.server.pid).children(recursive=True):
            self.started.setdefault(proc.pid, proc)

    def shut_down_kernels(self) -> None:
        """Shut down every kernel through the server's API, as the lab's menu does."""
        self.track()
        with urllib.request.urlopen(f"{self.base}/api/kernels?token={self.token}") as r:
            kernels = json.loads(r.read())
        for kernel in kernels:
            request = urllib.request.Request(
                f"{self.base}/api/kernels/{kernel['id']}?token={self.token}", method="DELETE")
            urllib.request.urlopen(request).close()

    def stop(self) -> list[str]:
        """Stop the server and whatever it started that outlived it; the latter's command lines."""
        with contextlib.suppress(psutil.Error):
            self.track()
        os.killpg(self.server.pid, signal.SIGTERM)  # the server shuts its kernels down
        self.server.wait(timeout=60)
        psutil.wait_procs(list(self.started.values()), timeout=60)
        left, names = [], []
        for proc in self.started.values():
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    names.append(" ".join(proc.cmdline())[:120])
                    proc.terminate()
                    left.append(proc)
        for proc in psutil.wait_procs(left, timeout=15)[1]:
            proc.kill()
        info = Path(tempfile.gettempdir()) / ".tensorboard-info"  # the magic's notes of its servers
        for pid in self.started:
            (info / f"pid-{pid}.info").unlink(missing_ok=True)
        return names


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lab_environment(tmp: Path) -> dict[str, str]:
    """The environment `make lab` starts in: ci preset, fresh reports, no autosave, no venv on PATH."""
    # Not pytest's variables: with PYTEST_CURRENT_TEST set, ipykernel stops forwarding what C++
    # writes to descriptors 1 and 2 (absl, oneDNN), and the page would hide defect 3.
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY" and not k.startswith("PYTEST_")}
    venv_bin = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(d for d in env.get("PATH", "").split(os.pathsep)
                                  if d and Path(d).resolve() != Path(venv_bin).resolve())
    env["COURSE_PRESET"] = "ci"  # what the kernels run at (make lab's LAB_PRESET only prepares data)
    env["COURSE_REPORTS_DIR"] = str(tmp / "reports")  # fresh run folders: 06 trains, logs anew
    # No autosave: the lab serves the repository's own notebooks, which stay output-free.
    plugin = tmp / "settings" / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(json.dumps({"autosave": False}))
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp / "settings")
    return env


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` at the ci preset; yields a :class:`Lab`; stops it and all it started after."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (it installs Debian's chromium)")
    stored = {path: path.read_bytes() for path in (ROOT / "notebooks").glob("*.ipynb")}
    port = _free_port()
    proc = subprocess.Popen(["make", "lab", f"PORT={port}", "LAB_PRESET=ci"], cwd=ROOT,
                            env=_lab_environment(tmp_path_factory.mktemp("lab")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    token, deadline = None, time.monotonic() + 600
    while token is None and time.monotonic() < deadline and proc.poll() is None:
        found = re.search(rf"127\.0\.0\.1:{port}/lab\?token=(\w+)", proc.stdout.readline())
        token = found.group(1) if found else None
    lab = Lab(f"http://127.0.0.1:{port}", token or "", proc)
    try:
        assert token, "make lab printed no URL with a token"
        yield lab
    finally:
        left = lab.stop()
        if left:  # e.g. TensorBoard outlives its kernel's shutdown
            warnings.warn(f"still running after the lab stopped (the test stopped them): {left}",
                          stacklevel=1)
        for path, content in stored.items():  # a safety net: autosave is off (settings)
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            if any(c.get("execution_count") is not None for c in cells):
                path.write_bytes(content)  # the lab saved outputs into it: put it back


@pytest.fixture(scope="module")
def page(lab):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.console_errors, tab.failed_requests = [], []
        tab.on("console", lambda m: m.type == "error" and tab.console_errors.append(m.text))
        tab.on("requestfailed", lambda r: tab.failed_requests.append(r.url))
        tab.on("dialog", lambda d: d.accept())  # "leave the page?" with unsaved outputs: yes
        yield tab
        browser.close()


def _open(page, lab: Lab, notebook: str) -> None:
    page.goto(f"{lab.base}/lab/tree/{notebook}?reset&token={lab.token}")  # reset: no restored tabs
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)
    page.wait_for_timeout(3000)
    _no_dialog(page)


def _run_through(page, notebook: str, source: str, timeout_s: float = 300):
    """Run ``notebook``'s code cells from the top, each clicked and run with Shift+Enter as a
    learner does, each waited for, through the first whose source contains ``source``; its locator.
    """
    from playwright.sync_api import expect

    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    last = next(k for k, text in enumerate(sources) if source in text)
    for k in range(last + 1):
        cell = page.locator(f"{PANEL} .jp-CodeCell").nth(k)
        for attempt in range(2):  # a key pressed while the page is still busy can get lost
            cell.locator(".jp-InputArea-editor").click()
            page.keyboard.press("Shift+Enter")
            try:  # queued: "[*]:", or already done
                expect(cell.locator(".jp-InputPrompt")).not_to_have_text(NOT_RUN, timeout=20_000)
                break
            except AssertionError:
                if attempt:
                    raise
        # done when its prompt shows the execution count
        expect(cell.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=timeout_s * 1000)
    page.wait_for_timeout(2000)  # what C++ wrote to descriptor 2 reaches the page a bit later
    return page.locator(f"{PANEL} .jp-CodeCell").nth(last)


def _no_dialog(page) -> None:
    """Fail, naming it, if a JupyterLab dialog covers the page (it swallows keys and clicks)."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        page.screenshot(path=str(SHOTS / "dialog.png"))
        pytest.fail(f"a dialog covers the notebook: {dialog.first.inner_text()!r}")


def _run_all(page, timeout_s: float = 600) -> None:
    """Run > Run All Cells from the menu; wait until no cell is queued or running ("[*]:").

    (The kernel's indicator alone says idle while a kernel still starting has run nothing.)
    """
    from playwright.sync_api import expect

    prompts = f"{PANEL} .jp-CodeCell .jp-InputPrompt"
    for attempt in range(2):  # a click on a lab still starting up can get lost
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        try:
            expect(page.locator(prompts).first).not_to_have_text(NOT_RUN, timeout=20_000)
            break
        except AssertionError:
            if attempt:
                raise
    expect(page.locator(prompts).first).to_have_text(DONE, timeout=timeout_s * 1000)
    page.wait_for_function("sel => ![...document.querySelectorAll(sel)].some("
                           "e => e.textContent.includes('*'))", arg=prompts,
                           timeout=timeout_s * 1000)
    page.wait_for_timeout(2000)  # what C++ wrote to descriptor 2 reaches the page a bit later


def _run_new_cell(page, below, code: str, timeout_s: float = 120):
    """Add a code cell below the cell ``below``, write ``code`` in it, run it; its locator."""
    from playwright.sync_api import expect

    marker = f"# added by the browser test {uuid.uuid4().hex[:8]}"
    below.locator(".jp-InputPrompt").click()  # select that cell, in command mode
    page.keyboard.press("b")  # insert a cell below, in command mode
    page.keyboard.press("Enter")  # edit it
    page.keyboard.insert_text(f"{marker}\n{code}")
    page.keyboard.press("Shift+Enter")
    cell = page.locator(f"{PANEL} .jp-CodeCell", has_text=marker)
    expect(cell.locator(".jp-InputPrompt")).to_have_text(DONE, timeout=timeout_s * 1000)
    page.wait_for_timeout(2000)
    return cell


def _stderr(cell) -> list[str]:
    """The red stderr blocks (warnings, C++ log lines, tracebacks) under ``cell``."""
    return cell.locator(STDERR).all_inner_texts()


def _drag_problem(page, cell, shot: str) -> str | None:
    """Drag the first slider of the viewer in ``cell`` with the mouse; None if the picture
    changed, else what went wrong. Screenshots ``shot``_before/_after.png.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    handle = cell.locator(".widget-slider .noUi-handle").first
    with contextlib.suppress(PlaywrightTimeout):  # widget views render after the output lands
        handle.wait_for(timeout=15_000)
    if handle.count() == 0:
        return f"no slider to drag; the cell shows: {cell.inner_text()[-300:]!r}"
    picture = cell.locator(".jp-RenderedImage img").last
    readout = cell.locator(".widget-readout").first
    before, value = picture.get_attribute("src"), readout.inner_text()
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(SHOTS / f"{shot}_before.png"))
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 30, y, steps=8)  # towards the first slices
    page.mouse.up()
    if readout.inner_text() == value:
        return f"the slider did not move: it still reads {value}"
    try:
        expect(picture).not_to_have_attribute("src", before or "", timeout=60_000)
    except AssertionError:
        return f"the slider moved from {value} to {readout.inner_text()} but the picture stayed"
    cell.screenshot(path=str(SHOTS / f"{shot}_after.png"))
    return None


def _tensorboard_problem(cell) -> str | None:
    """None if ``cell`` (run) shows TensorBoard's UI with the run's loss curves, else what it shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    try:  # the magic displays the frame once TensorBoard answers: it is there when the cell is done
        cell.locator("iframe").first.wait_for(timeout=10_000)
    except PlaywrightTimeout:
        return f"no TensorBoard frame; the cell shows: {cell.locator('.jp-OutputArea').inner_text()!r}"
    body = cell.frame_locator("iframe").first.locator("body")
    try:
        expect(body).to_contain_text("epoch_loss", timeout=180_000)  # Keras' scalar, per run
    except AssertionError:
        return f"the TensorBoard frame shows no loss curve: {body.inner_text()[:300]!r}"
    return None


def test_the_first_cell_is_short_quiet_and_says_what_runs(page, lab):
    _open(page, lab, "00_setup.ipynb")
    first = page.locator(f"{PANEL} .jp-CodeCell").first
    assert len(first.locator(".jp-InputArea-editor").inner_text().splitlines()) <= 16
    _run_through(page, "00_setup.ipynb", "environment.summary()")
    page.screenshot(path=str(SHOTS / "00_first_cell.png"))
    assert "TensorFlow" in first.locator(".jp-OutputArea").inner_text()
    assert not _stderr(first), _stderr(first)
    # The check sees what issue #13 saw: C++ log lines written to descriptor 2 by an import.
    noisy = _run_new_cell(page, first, 'import os\nos.write(2, b"I0000 oneDNN custom operations are on.\\n")')
    assert _stderr(noisy), "a stderr block went unnoticed"
    lab.shut_down_kernels()


def test_the_slice_viewer_shows_whole_labels_and_follows_the_mouse(page, lab):
    _open(page, lab, "01_headers_and_physical_space.ipynb")
    _run_all(page)
    page.screenshot(path=str(SHOTS / "01_after_run_all.png"), full_page=True)
    viewer = page.locator(f"{PANEL} .jp-CodeCell", has_text="viz.slice_viewer(").first
    viewer.scroll_into_view_if_needed()
    viewer.screenshot(path=str(SHOTS / "01_slice_viewer.png"))
    assert page.get_by_text("official Jupyter news").count() == 0, "the news pop-up covers the page"
    assert page.locator(STDERR).count() == 0, page.locator(STDERR).all_inner_texts()
    problem = _drag_problem(page, viewer, "01_slice_viewer_drag")
    assert problem is None, problem
    labels = viewer.locator(".widget-label").evaluate_all(
        "els => els.map(e => [e.textContent, e.scrollWidth <= e.clientWidth + 1])")
    cut = [text for text, whole in labels if not whole]
    assert labels and not cut, f"labels cut off: {cut}"
    # The check sees what issue #13 saw: a viewer that takes the lab for a report is static.
    static = _run_new_cell(page, viewer, 'os.environ["COURSE_WIDGETS"] = "0"  # as in a report\n'
                                 "static_view = viz.slice_viewer(row)")
    assert _drag_problem(page, static, "01_static_viewer"), "a static viewer passed for a live one"
    lab.shut_down_kernels()


def test_tensorboard_shows_the_runs_curves(page, lab):
    _open(page, lab, "06_segmentation.ipynb")
    cell = _run_through(page, "06_segmentation.ipynb", TENSORBOARD_CELL)
    cell.scroll_into_view_if_needed()
    problem = _tensorboard_problem(cell)
    cell.screenshot(path=str(SHOTS / "06_tensorboard.png"))
    assert problem is None, problem
    assert page.locator(STDERR).count() == 0, page.locator(STDERR).all_inner_texts()
    # The check sees what issue #13 saw: the magic called directly, the venv's bin off PATH.
    # (--reload_interval: other arguments, so the magic starts a server instead of reusing one)
    lost = _run_new_cell(page, cell, (
        "import os, sys\n"
        "venv_bin = os.path.realpath(os.path.dirname(sys.executable))\n"
        'os.environ["PATH"] = os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)'
        " if os.path.realpath(d) != venv_bin)\n"
        "logs = str(run_dir / 'logs')\n"
        "%load_ext tensorboard\n"
        "%tensorboard --logdir {logs} --reload_interval 7"))
    assert _tensorboard_problem(lost), "TensorBoard passed although it could not start"
    lab.shut_down_kernels()


def test_no_errors_in_the_browser_console(page, lab):
    # Offline, the Colab and Binder badges (images on other hosts) cannot load: that is the
    # only failure allowed; everything the lab itself serves must load.
    local = [url for url in page.failed_requests if url.startswith(lab.base)]
    assert not local, local
    errors = [e for e in page.console_errors if "Failed to load resource" not in e]
    assert not errors, errors
