"""The course as a learner meets it: `make lab` opened in a real browser (Debian's Chromium).

Run with `make browser` (installs Playwright and, where missing, Debian's chromium).
Screenshots land in reports/browser/ to be looked at, not only asserted on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "browser"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`make lab` at the ci preset; yields (base URL, token); stops it and its kernels after."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (it installs Debian's chromium)")
    # The lab serves the repository's own notebooks: keep their bytes.
    stored = {path: path.read_bytes() for path in (ROOT / "notebooks").glob("*.ipynb")}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    # No autosave: the lab serves the repository's own notebooks, which stay output-free.
    settings = tmp_path_factory.mktemp("lab-settings")
    plugin = settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(json.dumps({"autosave": False}))
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    proc = subprocess.Popen(["make", "lab", f"PORT={port}", "LAB_PRESET=ci"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    token, deadline = None, time.monotonic() + 600
    while token is None and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        found = re.search(rf"127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
        token = found.group(1) if found else None
    assert token, "make lab printed no URL with a token"
    base = f"http://127.0.0.1:{port}"
    try:
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
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
        yield tab
        browser.close()


def _open(page, lab, notebook: str) -> None:
    base, token = lab
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")  # reset: no restored tabs
    page.wait_for_selector(f"{PANEL} .jp-Cell", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=180_000)


def _run_first_code_cells(page, n: int, timeout_s: float = 600) -> None:
    """Run the first ``n`` code cells with Shift+Enter, as a learner does, and wait for each."""
    from playwright.sync_api import expect

    page.locator(f"{PANEL} .jp-CodeCell .jp-InputArea-editor").first.click()
    for i in range(n):
        page.keyboard.press("Shift+Enter")
        # done when the cell's prompt shows its execution count, "[1]:" (the kernel's idle
        # indicator is idle already before a kernel that is still starting runs the cell)
        expect(page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").nth(i)).to_have_text(
            re.compile(r"\[\d+\]"), timeout=timeout_s * 1000)


def _shut_down_kernels(lab) -> None:
    base, token = lab
    with urllib.request.urlopen(f"{base}/api/kernels?token={token}") as r:
        kernels = json.loads(r.read())
    for kernel in kernels:
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}",
                                         method="DELETE")
        urllib.request.urlopen(request).close()


def test_the_first_cell_is_short_quiet_and_says_what_runs(page, lab):
    _open(page, lab, "00_setup.ipynb")
    first = page.locator(f"{PANEL} .jp-CodeCell").first
    assert len(first.locator(".jp-InputArea-editor").inner_text().splitlines()) <= 16
    _run_first_code_cells(page, 1)
    page.screenshot(path=str(SHOTS / "00_first_cell.png"))
    assert "TensorFlow" in first.locator(".jp-OutputArea").inner_text()
    assert first.locator(STDERR).count() == 0, first.locator(STDERR).all_inner_texts()
    _shut_down_kernels(lab)


def test_the_slice_viewer_shows_whole_labels(page, lab):
    _open(page, lab, "01_headers_and_physical_space.ipynb")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    time.sleep(5)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=600_000)
    page.screenshot(path=str(SHOTS / "01_after_run_all.png"), full_page=True)
    viewer = page.locator(f"{PANEL} .widget-vbox").first
    viewer.wait_for(timeout=30_000)
    viewer.scroll_into_view_if_needed()
    viewer.screenshot(path=str(SHOTS / "01_slice_viewer.png"))
    assert page.get_by_text("official Jupyter news").count() == 0, "the news pop-up covers the page"
    labels = page.locator(".widget-label").evaluate_all(
        "els => els.map(e => [e.textContent, e.scrollWidth <= e.clientWidth + 1])")
    cut = [text for text, whole in labels if not whole]
    assert labels and not cut, f"labels cut off: {cut}"
    assert page.locator(STDERR).count() == 0, page.locator(STDERR).all_inner_texts()
    _shut_down_kernels(lab)


def test_no_errors_in_the_browser_console(page, lab):
    # Offline, the Colab and Binder badges (images on other hosts) cannot load: that is the
    # only failure allowed; everything the lab itself serves must load.
    base, _ = lab
    local = [url for url in page.failed_requests if url.startswith(base)]
    assert not local, local
    errors = [e for e in page.console_errors if "Failed to load resource" not in e]
    assert not errors, errors
