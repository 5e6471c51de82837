"""End to end: the real streamlit server on a small recorded run, every page opened in headless Chromium."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dashboards.harness import (
    CHART,
    CHROMIUM,
    PAGES,
    add_run,
    alerts,
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


def test_unrelated_runs_are_not_selected_together_and_warn_when_they_are(tmp_path):
    # The demo (text, its own vocabulary) and the tour (synthetic induction data) are not seeds of one
    # configuration: Analyses and Compare must not draw a "reliability across seeds" band over them unasked.
    demo = write_run(tmp_path / "demo", seed=0)
    config = json.loads((demo / "config.json").read_text())
    config["data"]["name"], config["model"]["d_vocab"] = "text", 4096
    (demo / "config.json").write_text(json.dumps(config))
    write_run(tmp_path / "induction", seed=0)
    with serve(tmp_path, log_path=tmp_path / "server.log") as url, browser() as page:
        for path in ("analyses", "compare"):
            open_page(page, url, path, n_charts=0)
            chosen = page.locator('[data-testid="stSidebar"] [data-testid="stMultiSelect"] [data-tag]')
            assert chosen.all_inner_texts() == ["demo"], path  # one run, not the first two alphabetically
            assert "not seeds of one" in page.locator('[data-testid="stSidebar"]').inner_text()
            add_run(page, "induction")
            assert chosen.count() == 2, path
            page.locator('[data-testid="stAlert"]', has_text="not seeds of one configuration").first.wait_for()
            warned = [a for a in alerts(page) if "not seeds of one configuration" in a]
            assert warned and "data.name" in warned[0] and "model.d_vocab" in warned[0], path
            assert page_errors(page) == [], path
        open_page(page, url, "analyses", n_charts=0)
        add_run(page, "induction")
        page.get_by_text("Spread across runs").first.wait_for()
        assert "Spread across runs" in page.locator('[data-testid="stMain"]').inner_text()
        assert "Reliability across seeds" not in page.locator('[data-testid="stMain"]').inner_text()
