"""The documentation site: it builds without a warning, its links resolve, its examples run, and
its pages work in a real browser (headless Chromium).

The site is built once per session with the README's command into ``docs/_build/html``; the
browser checks write a screenshot of each page they open to ``docs/_build/screenshots/`` (kept by
CI as artifacts). Without the ``docs`` extra or without Chromium these tests are skipped, except
under CI (``CI`` set), where a missing tool is a failure: ``scripts/setup.sh`` installs both.
"""

from __future__ import annotations

import doctest
import functools
import html.parser
import http.server
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BUILD = DOCS / "_build"
HTML = BUILD / "html"
SCREENSHOTS = BUILD / "screenshots"
#: the command of the README and CONTRIBUTING (-E: read every source again, as on a clean tree)
BUILD_COMMAND = [sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-b", "html",
                 str(DOCS), str(HTML)]


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it with scripts/setup.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site() -> Path:
    for module in ("sphinx", "furo", "myst_parser", "sphinx-mathjax-offline"):
        if importlib.util.find_spec(module) is None:
            _missing(f"the docs extra is not installed ({module})")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p))
    done = subprocess.run(BUILD_COMMAND, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=900)
    assert done.returncode == 0, f"the docs build failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    return HTML


# --- the build ------------------------------------------------------------------------------------


def test_build_has_every_page(site: Path):
    from visionloss._core.spec import FAMILIES

    for page in ("index", "getting-started", "conventions", "composition", "distributed",
                 "performance", "cli", "search", "api/functional", "api/modules", "migration/index"):
        assert (site / f"{page}.html").is_file(), page
    for family in FAMILIES:
        assert (site / "losses" / f"{family}.html").is_file(), family
    sys.path.insert(0, str(DOCS))
    try:
        from migration_table import PEERS
    finally:
        sys.path.remove(str(DOCS))
    for peer in PEERS:
        text = (site / "migration" / f"{peer.key}.html").read_text(encoding="utf-8")
        assert peer.rows[0].topic.split("(")[0] in text


def test_loss_pages_follow_the_specs(site: Path):
    from visionloss.losses import SPECS

    for spec in SPECS:
        text = (site / "losses" / f"{spec.family}.html").read_text(encoding="utf-8")
        assert f">{spec.name}<" in text, spec.name  # the loss's section heading
        for option in spec.defaults:
            assert f"<span class=\"pre\">{option}</span>" in text, (spec.name, option)


def test_benchmarks_are_included(site: Path):
    # the CPU table's header and the GPU section of docs/BENCHMARKS.md appear in the page
    text = (site / "performance.html").read_text(encoding="utf-8")
    assert "quiet rounds" in text and "H200" in text


def test_mathjax_is_served_locally(site: Path):
    text = (site / "losses" / "regression.html").read_text(encoding="utf-8")
    assert "_static/mathjax/tex-chtml.js" in text
    assert "cdn" not in text.lower()
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"] or "")
        for key in ("href", "src"):
            if values.get(key) and tag in {"a", "img", "script", "link"}:
                self.links.append(values[key] or "")


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_internal_links_resolve(site: Path):
    """Every relative href/src of every page names a file of the site, and an anchor in it."""
    broken = []
    for page in site.rglob("*.html"):
        for link in _parse(page).links:
            if urlsplit(link).scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue  # external: linkcheck would need the network
            target, anchor = urldefrag(link)
            path = (page.parent / unquote(urlsplit(target).path)).resolve() if target else page
            if path.is_dir():
                path = path / "index.html"
            if not path.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
            elif anchor and path.suffix == ".html" and anchor not in _parse(path).ids:
                broken.append(f"{page.relative_to(site)} -> {link} (no anchor)")
    assert not broken, "\n".join(broken[:20])


# --- the examples of the guide ---------------------------------------------------------------------


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_guide_examples_run(page: str):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testfile(str(DOCS / page), module_relative=False, optionflags=flags,
                              encoding="utf-8", verbose=False, report=True)
    assert result.failed == 0, f"{result.failed} example(s) of docs/{page} failed (see above)"


# --- the browser -------------------------------------------------------------------------------------


def _chromium() -> tuple[str, str]:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                    if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        _missing("headless Chromium and its driver are not installed (apt: chromium "
                 "chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        _missing("selenium is not installed (docs extra)")
    return browser, driver  # type: ignore[return-value]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser(site: Path):
    binary, driver_path = _chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield driver, base
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()


def _wait(driver, script: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > end:
            return value
        time.sleep(0.2)


def _open(browser, page: str):
    driver, base = browser
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(base + page)
    _wait(driver, "return document.readyState === 'complete'")
    return driver


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def _screenshot(driver, name: str) -> None:
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(int(height), 800), 6000))
    driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1600)


def test_index_page_in_browser(browser):
    driver = _open(browser, "index.html")
    assert "visionloss" in driver.title
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('.sidebar-tree a')).map(a => a.textContent)"
    )
    assert any("Regression" in text for text in links), links
    _screenshot(driver, "index")
    assert _console_errors(driver) == []


def test_loss_page_renders_formulas_and_figures(browser):
    driver = _open(browser, "losses/regression.html")
    typeset = _wait(driver, """
        if (!(window.MathJax && MathJax.startup && MathJax.startup.document)) return false;
        const done = document.querySelectorAll('mjx-container').length;
        const pending = document.querySelectorAll('div.math, span.math').length;
        return done > 0 && done >= pending ? done : false;
    """)
    assert typeset, "MathJax did not typeset the formulas"
    script = driver.execute_script(
        "return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('mathjax'))"
    )
    assert script and all(src.startswith(browser[1]) for src in script), script
    assert driver.execute_script("return document.querySelectorAll('mjx-merror').length") == 0
    images = _wait(driver, """
        const imgs = Array.from(document.querySelectorAll('figure img, .figure img'));
        return imgs.length && imgs.every(i => i.complete) ? imgs.map(i => i.naturalWidth) : false;
    """)
    assert images and all(width > 0 for width in images), images
    _screenshot(driver, "regression")
    assert _console_errors(driver) == []


def test_search_page_finds_a_loss(browser):
    driver = _open(browser, "search.html?q=charbonnier")
    found = _wait(driver, """
        const links = Array.from(document.querySelectorAll('#search-results a'));
        return links.length ? links.map(a => a.getAttribute('href')) : false;
    """)
    assert found and any("regression" in href for href in found), found
    _screenshot(driver, "search")
    assert _console_errors(driver) == []
