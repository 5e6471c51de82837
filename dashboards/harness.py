"""Start the real dashboard server and a headless Chromium on it: for the browser tests, screenshots and benchmark.

    with serve(runs_dir) as url, browser() as page:
        seconds = open_page(page, url, "heads")

All traffic stays on 127.0.0.1. The server is always stopped on exit, even after an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: url path -> how many charts the page shows on a recorded run (at least).
# Analyses: change points, fit and lagged correlation (a fourth, the seed band, needs two chosen runs).
PAGES = {"overview": 3, "parameters": 2, "heads": 3, "circuits": 0, "activations": 3, "analyses": 3, "compare": 1, "generate": 0}
DEFAULT_PAGE = "overview"  # served at the root URL
# A drawn chart: Plotly's SVG, or Vega-Lite's (the Overview's training curves, figures/training.py).
CHART = '[data-testid="stPlotlyChart"] .main-svg, [data-testid="stVegaLiteChart"] svg.marks'
EXCEPTION = '[data-testid="stException"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(runs_dir: Path, port: int | None = None, timeout: float = 60.0, log_path: Path | None = None) -> Iterator[str]:
    """Run `streamlit run dashboards/app.py -- --runs RUNS_DIR` on 127.0.0.1; yield its base URL."""
    port = port or free_port()
    # No --server.address: the repository's .streamlit/config.toml binds to 127.0.0.1, and this checks it.
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboards" / "app.py"), "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats",
           "false", "--server.fileWatcherType", "none", "--", "--runs", str(runs_dir)]
    out = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the dashboard server exited with status {proc.returncode} (command: {' '.join(cmd)})")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server did not answer {url}/_stcore/health within {timeout:.0f} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log_path:
            out.close()


@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator:
    """A headless Chromium page (Debian's /usr/bin/chromium, driven by playwright); closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = chromium.new_page(viewport={"width": width, "height": height})
            yield page
        finally:
            chromium.close()


def wait_idle(page, timeout_ms: float = 30_000) -> None:
    """Wait until streamlit has finished running the script (its 'running' status widget is gone)."""
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') "
        "&& document.querySelector('[data-testid=\"stMain\"]')", timeout=timeout_ms)


def open_page(page, url: str, path: str, n_charts: int | None = None, timeout_ms: float = 60_000) -> float:
    """Load one page and wait until its charts are drawn; return the seconds it took in the browser."""
    n = PAGES.get(path, 0) if n_charts is None else n_charts
    start = time.perf_counter()
    page.goto(f"{url}/{'' if path == DEFAULT_PAGE else path}", wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    if n:
        page.wait_for_function(f"() => document.querySelectorAll('{CHART}').length >= {n}", timeout=timeout_ms)
    wait_idle(page, timeout_ms)
    return time.perf_counter() - start


def settle(page, timeout_ms: float = 30_000) -> str:
    """Wait for the browser's background load of Plotly's bundle (dashboards/preload.py) to finish, as it does
    while someone reads the page; return how it ended ("loaded", "failed", or "none" on a page without it)."""
    return page.evaluate(
        """async (timeout) => {
             const end = Date.now() + timeout;
             while (!window.seedlingPlotlyPreload && Date.now() < end) await new Promise(r => setTimeout(r, 50));
             return window.seedlingPlotlyPreload ? await window.seedlingPlotlyPreload : "none";
           }""", timeout_ms)


def move_step_slider(page, timeout_ms: float = 30_000) -> float:
    """On the heads page, move the step slider one notch left; return seconds until the grid shows the new step."""
    title = page.locator('[data-testid="stPlotlyChart"] .gtitle').first
    before = title.text_content()
    thumb = page.locator('[data-testid="stSlider"] input[type="range"]').first
    thumb.focus()
    start = time.perf_counter()
    thumb.press("ArrowLeft")
    page.wait_for_function(
        "(before) => { const t = document.querySelector('[data-testid=\"stPlotlyChart\"] .gtitle');"
        " return t && t.textContent !== before; }", arg=before, timeout=timeout_ms)
    seconds = time.perf_counter() - start
    wait_idle(page, timeout_ms)
    return seconds


def add_run(page, name: str, timeout_ms: float = 30_000) -> None:
    """In the sidebar's multi-run picker (Analyses, Compare), add the run called `name` and wait for the rerun."""
    box = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"] input[role="combobox"]').first
    box.click()
    box.fill(name)
    page.get_by_role("option", name=name, exact=True).first.click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)  # the rerun starts after the widget's debounce
    wait_idle(page, timeout_ms)


def alerts(page) -> list[str]:
    """Texts of the warnings, infos and errors on the page and in its sidebar."""
    return [a.inner_text() for a in page.locator('[data-testid="stAlert"]').all()]


def page_errors(page) -> list[str]:
    """Texts of exceptions streamlit shows on the page (empty when none)."""
    return [e.inner_text() for e in page.locator(EXCEPTION).all()]
