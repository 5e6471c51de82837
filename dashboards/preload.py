"""Load Plotly's browser bundle in the background after a page is drawn, so the next chart page does not wait for it.

Streamlit fetches a chart library's JavaScript only when a page first shows such a chart. Plotly's bundle
is 4.7 MB and takes the browser about 0.7 s of one core to evaluate (measured in headless Chromium,
`benchmarks/dashboard_render.py`), and every page but Overview and Generate draws Plotly charts. So once
any page has been drawn and has settled, a small script imports that same bundle (the same URL,
so the browser's module map shares it with Streamlit's own import). Whoever opens Parameters or
Attention heads after reading the landing page for a second finds Plotly ready.

The bundle's file name carries a content hash that changes with the Streamlit release; it is read from
the installed Streamlit package. If it cannot be found, nothing is preloaded and the pages load Plotly
themselves as before. `window.seedlingPlotlyPreload` holds the import's promise (it resolves to
"loaded" or "failed"), which the browser tests and the benchmark read.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import streamlit as st

STATIC_JS = Path(st.__file__).parent / "static" / "static" / "js"

# Started once the page has settled: no change to the page for QUIET_MS (charts draw asynchronously, Vega's
# especially, and evaluating Plotly's bundle blocks the browser's one main thread for ~0.7 s), then on idle.
# The bundle's URL is resolved against the URL of Streamlit's own entry script, which keeps a
# server.baseUrlPath prefix working.
QUIET_MS = 500
SCRIPT = """<script>
(() => {
  if (window.seedlingPlotlyPreload) return;
  const entry = document.querySelector('script[src*="static/js/index."]');
  if (!entry) return;
  const url = new URL("./%s", entry.src).href;
  window.seedlingPlotlyPreload = new Promise((resolve) => {
    const load = () => import(url).then(() => resolve("loaded"), () => resolve("failed"));
    const onIdle = () => ("requestIdleCallback" in window) ? requestIdleCallback(load, {timeout: 2000}) : load();
    let timer = setTimeout(settled, QUIET_MS);
    const watcher = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(settled, QUIET_MS); });
    function settled() { watcher.disconnect(); onIdle(); }
    watcher.observe(document.body, {subtree: true, childList: true});
  });
})();
</script>""".replace("QUIET_MS", str(QUIET_MS))


@functools.cache
def plotly_bundle() -> str | None:
    """File name of Streamlit's Plotly chart bundle (`PlotlyChart.<hash>.js`), or None if it is not there."""
    found = sorted(STATIC_JS.glob("PlotlyChart.*.js"))
    return found[0].name if found else None


def preload_plotly() -> None:
    """Add the preloading script to the page (an element of no height); nothing when the bundle is unknown
    or this Streamlit's st.html cannot run scripts."""
    bundle = plotly_bundle()
    if bundle and "unsafe_allow_javascript" in inspect.signature(st.html).parameters:
        st.html(SCRIPT % bundle, unsafe_allow_javascript=True)  # our own fixed script, no user input in it
