"""End to end: the real streamlit server on a small recorded run, every page opened in headless Chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dashboards.harness import (
    CHART,
    CHROMIUM,
    PAGES,
    browser,
    move_step_slider,
    open_page,
    page_errors,
    serve,
    settle,
)
from tests.dashboard_run import write_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"needs Debian's chromium at {CHROMIUM} (.ci/run installs it)"),
]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
CONTAINERS = '[data-testid="stPlotlyChart"], [data-testid="stVegaLiteChart"]'


def test_every_page_renders_in_the_browser(tmp_path):
    write_run(tmp_path / "seed0", seed=0)
    write_run(tmp_path / "seed1", seed=1)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with serve(tmp_path, log_path=tmp_path / "server.log") as url, browser() as page:
        assert url.startswith("http://127.0.0.1:")
        for path, n_charts in PAGES.items():
            open_page(page, url, path)
            page.screenshot(path=str(SHOTS / f"{path}.png"), full_page=True)
            assert page_errors(page) == [], path
            assert page.locator(CONTAINERS).count() >= n_charts, path
            if n_charts:  # plotly or vega drew into the chart containers (not just empty frames)
                assert page.locator(CHART).count() >= n_charts, path
            assert settle(page) == "loaded", path  # every page preloads Plotly's bundle once it is drawn
        assert page.locator('[data-testid="stVegaLiteChart"]').count() == 0  # Generate: no chart at all
        open_page(page, url, "overview")  # the landing page's charts need no Plotly
        assert page.locator('[data-testid="stVegaLiteChart"] svg.marks').count() == PAGES["overview"]
        assert page.locator('[data-testid="stPlotlyChart"]').count() == 0
        open_page(page, url, "heads")
        before = page.locator('[data-testid="stPlotlyChart"] .gtitle').first.text_content()
        move_step_slider(page)
        after = page.locator('[data-testid="stPlotlyChart"] .gtitle').first.text_content()
        assert before.startswith("entropy at step 110") and after.startswith("entropy at step 100")
        assert page_errors(page) == []
