"""The rendered course (`make site`) in Debian's Chromium: every page as a reader meets it.

Checks the site in ``$COURSE_SITE_DIR`` (default ``reports/site``, where `make site`
builds it), served over HTTP on 127.0.0.1: each page loads with no console error and
no failed request from this server (the Colab/Binder badges come from other hosts,
which an offline machine cannot reach; nothing else may come from another host), every
image served here is loaded, every figure the executed notebook stored is on its page,
every link within the site leads to a page (and to the section it names), and search
finds the notebooks. Screenshots land in reports/browser/site_*.png, to be looked at.
"""

from __future__ import annotations

import contextlib
import functools
import html
import html.parser
import http.server
import importlib.util
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

# Sphinx 9 warns that the theme and MyST use APIs it will remove in Sphinx 11: not ours.
pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API")]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "reports" / "browser"
CHROMIUM = os.environ.get("COURSE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
SITE = Path(os.environ.get("COURSE_SITE_DIR", ROOT / "reports" / "site"))
SKIP_DIRS = {"_static", "_sources", "_images"}
SOLUTIONS = ROOT / "course_utils" / "exercises" / "solutions"  # nNN.py: printed on request only
PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
               if not SKIP_DIRS & set(p.relative_to(SITE).parts)
               and p.name != "index.html") if SITE.is_dir() else []  # index.html: a redirect
# Wait for each image the page serves (lazy ones told to load now); name those that failed.
BROKEN_IMAGES_JS = """async () => {
  const local = Array.from(document.images).filter(i => i.src.startsWith(location.origin));
  await Promise.all(local.map(i => { i.loading = 'eager';
    return i.complete ? null : new Promise(r => { i.onload = i.onerror = r; }); }));
  return [local.length, local.filter(i => !(i.naturalWidth > 0)).map(i => i.src)];
}"""


# What a reader would trip over on a page that loaded: a stderr block (absl/oneDNN log lines,
# warnings), a widget saved without its front end (an empty box, "Error displaying widget"),
# a displayed equation pushed to the edge of the text instead of centred.
PAGE_PROBLEMS_JS = """() => {
  const problems = [];
  for (const e of document.querySelectorAll('.cell_output .output.stderr'))
    problems.push('a stderr block: ' + e.innerText.trim().split('\\n')[0].slice(0, 100));
  if (document.querySelector('script[type="application/vnd.jupyter.widget-view+json"]'))
    problems.push('a widget saved without its front end (an empty box)');
  if (document.body.innerText.includes('Error displaying widget'))
    problems.push('"Error displaying widget"');
  for (const m of document.querySelectorAll('div.math > math')) {
    const box = m.parentElement.getBoundingClientRect(), range = document.createRange();
    range.selectNodeContents(m);
    const text = range.getBoundingClientRect();
    const off = (text.left + text.right) / 2 - (box.left + box.right) / 2;
    if (Math.abs(off) > 0.05 * box.width)
      problems.push('an equation ' + Math.round(off) + ' px off centre: ' + m.textContent.slice(0, 40));
  }
  return problems;
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the requests are checked, not printed
        pass


@contextlib.contextmanager
def _serving(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server():
    """The built site over HTTP on 127.0.0.1; yields its base URL."""
    if not (SITE / "index.html").is_file():
        pytest.skip(f"no built site in {SITE}: run `make site` (or `make site SITE_PRESET=ci`), "
                    "or point COURSE_SITE_DIR at one")
    with _serving(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def page():
    """One Chromium tab; each request that fails and each console error are recorded."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        tab.errors, tab.failed = [], []
        tab.on("console", lambda m: m.type == "error" and tab.errors.append(
            (m.text, (m.location or {}).get("url", ""))))
        tab.on("pageerror", lambda exc: tab.errors.append((str(exc), "")))  # the page's own
        tab.on("requestfailed", lambda r: tab.failed.append((r.url, r.resource_type)))
        tab.on("response", lambda r: r.status >= 400 and tab.failed.append(
            (f"{r.url} ({r.status})", r.request.resource_type)))
        yield tab
        browser.close()


class _Targets(html.parser.HTMLParser):
    """The ids and the link targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.add(attrs["href"])


@functools.cache
def _parsed(url: str) -> _Targets | None:
    """The page at ``url`` parsed, or None where the server has no page there."""
    try:
        with urllib.request.urlopen(url) as response:
            text = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError:
        return None
    targets = _Targets()
    targets.feed(text)
    return targets


def _broken_links(server: str, url: str) -> list[str]:
    """Links of the page at ``url`` to this site that lead to no page or to no such section."""
    broken = []
    for href in sorted(_parsed(url).links):
        target = urllib.parse.urljoin(url, href)
        if not target.startswith(server + "/"):
            continue  # another host (Colab, Binder, GitHub): not reachable offline
        address, _, fragment = target.partition("#")
        found = _parsed(address)
        if found is None:
            broken.append(f"{href} (no page)")
        elif fragment and urllib.parse.unquote(fragment) not in found.ids:
            broken.append(f"{href} (no section #{fragment})")
    return broken


def _stored_figures(name: str) -> int:
    """How many images the executed notebook behind page ``name`` stored in its outputs."""
    source = SITE / "_sources" / Path(name).with_suffix(".ipynb")
    if not source.is_file():
        return 0
    cells = json.loads(source.read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


@pytest.mark.parametrize("name", PAGES or [None])
def test_every_page_loads_shows_its_figures_and_links_within_the_site(server, page, name):
    if name is None:
        pytest.skip(f"no built site in {SITE}: run `make site` first")
    page.errors.clear(), page.failed.clear()
    url = f"{server}/{name}"
    page.goto(url, wait_until="load")
    count, broken = page.evaluate(BROKEN_IMAGES_JS)
    shot = "site_" + re.sub(r"\W+", "_", name.removesuffix(".html")) + ".png"
    page.screenshot(path=str(SHOTS / shot))
    figure = page.locator(".cell_output img").first
    if figure.count():
        figure.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / shot.replace(".png", "_figure.png")))
    # Offline, only images from other hosts (the badges) may fail: a script, style or font
    # from another host would leave the page broken for a reader without the network.
    failed = [u for u, kind in page.failed if u.startswith(server) or kind != "image"]
    local_errors = [text for text, where in page.errors if not where or where.startswith(server)]
    assert not failed, f"{name}: requests failed: {failed}"
    assert not local_errors, f"{name}: console errors: {local_errors}"
    assert not broken, f"{name}: images not loaded: {broken}"
    problems = page.evaluate(PAGE_PROBLEMS_JS)
    assert not problems, f"{name}: what a reader would trip over: {problems}"
    figures = page.locator(".cell_output img").count()
    assert figures >= _stored_figures(name), (
        f"{name}: the executed notebook stored {_stored_figures(name)} images, the page shows "
        f"{figures} (of {count} served here)")
    assert not _broken_links(server, url), f"{name}: links that lead nowhere: {_broken_links(server, url)}"


def test_no_page_shows_a_worked_solution(server):
    """A worked solution is printed on request (``exercises.solution``), never on a page."""
    for module in sorted(SOLUTIONS.glob("n[0-9][0-9].py")):
        for page_file in (SITE / "notebooks").glob(f"{module.stem[1:]}_*.html"):
            text = html.unescape(re.sub(r"<[^>]+>", "", page_file.read_text(encoding="utf-8")))
            answers = {line.strip() for line in module.read_text(encoding="utf-8").splitlines()
                       if re.match(r"(answer|prediction) = ", line) and len(line.strip()) > 15}
            shown = sorted(line for line in answers if line in text)
            assert not shown, f"{page_file.name} shows the worked solution lines {shown}"


def test_search_finds_the_notebooks(server, page):
    page.goto(f"{server}/search.html?q=Dice", wait_until="load")
    results = page.locator("#search-results a")
    results.first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "site_search.png"))
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any(href and href.startswith("notebooks/") for href in hrefs), hrefs


def test_next_and_previous_walk_the_course_in_order(server, page):
    notebooks = sorted(n for n in PAGES if n.startswith("notebooks/"))
    if not notebooks:
        pytest.skip(f"no notebook pages in {SITE}")
    page.goto(f"{server}/index.html", wait_until="load")  # redirects to the README
    page.wait_for_url(f"{server}/README.html")
    page.locator("a.right-next").click()
    for name in notebooks:
        page.wait_for_url(f"{server}/{name}")
        if name != notebooks[-1]:
            page.locator("a.right-next").click()
    page.locator("a.left-prev").click()
    page.wait_for_url(f"{server}/{notebooks[-2]}")


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """A two-page course built by tools/site.py: 00 has an equation and a 200-line log, 01 stderr."""
    spec = importlib.util.spec_from_file_location("course_test_site", ROOT / "tests" / "test_site.py")
    built = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(built)  # its tiny course and tools/site.py, as tests/test_site.py uses
    tmp = tmp_path_factory.mktemp("tiny")
    root, reports = built._course(tmp)
    noisy = built._notebook("One", "../README.md", figure=False)
    noisy.cells[1].outputs.append(nbformat.v4.new_output(
        "stream", name="stderr", text="I0000 cpu_feature_guard.cc:210] oneDNN custom operations are on\n"))
    nbformat.write(noisy, reports / "01_b.ipynb")
    long = built._notebook("Zero", "01_b.ipynb", figure=True)
    long.cells[1].outputs.append(nbformat.v4.new_output(
        "stream", name="stdout", text="".join(f"Epoch {i}/200 - loss: 0.5\n" for i in range(1, 201))))
    nbformat.write(long, reports / "00_a.ipynb")
    built.site_tool.build(reports, tmp / "site", root=root)
    with _serving(tmp / "site") as url:
        yield url


def test_the_page_checks_catch_what_a_reader_trips_over(tiny_site, page):
    page.goto(f"{tiny_site}/notebooks/00_a.html", wait_until="load")
    assert page.evaluate(PAGE_PROBLEMS_JS) == []  # its equation is centred
    tallest = page.evaluate("Math.max(...Array.from(document.querySelectorAll('.cell_output pre'),"
                            " e => e.getBoundingClientRect().height))")
    assert 100 < tallest < 700, f"the 200-line log is {tallest} px tall: it should scroll in its box"
    page.goto(f"{tiny_site}/notebooks/01_b.html", wait_until="load")
    problems = page.evaluate(PAGE_PROBLEMS_JS)
    assert len(problems) == 1 and "a stderr block: I0000 cpu_feature_guard" in problems[0], problems
