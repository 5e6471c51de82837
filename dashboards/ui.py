"""Shared page pieces: the run picker, auto-refresh, and a chart with its explanation and its code."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from dashboards import data, explain

log = logging.getLogger(__name__)


def run_choice(multiple: bool = False) -> list[Path]:
    """Sidebar: pick one run (or several); returns [] after explaining what is wrong when none can be shown."""
    root = data.runs_root(sys.argv[1:])
    try:
        runs = data.find_runs(root)
    except data.RunsError as err:
        st.error(str(err))
        return []
    if not runs:
        st.warning(f"No runs found in {str(root)!r}. A run directory holds config.json, metrics.jsonl or "
                   "records.zarr; make one with `python -m seedling.train --preset tiny --data synthetic:induction "
                   f"--out {root}/tiny --record every=10`.")
        return []
    names = {str(p.relative_to(root)) if p != root else p.name: p for p in runs}
    if multiple:
        chosen = st.sidebar.multiselect("Runs", list(names), default=list(names)[:2], key="runs_compare")
    else:
        chosen = [st.sidebar.selectbox("Run", list(names), key="run")]
    st.sidebar.toggle("Auto-refresh every 10 s", key="auto_refresh",
                      help="re-read the run while training is still writing to it")
    st.sidebar.caption(f"Runs directory: `{root}`")
    return [names[c] for c in chosen if c]


@st.cache_resource(show_spinner=False)
def import_in_background(module: str = "workbench") -> threading.Thread:
    """Import `module` in a background thread, once per server process (st.cache_resource), and return the thread.

    `import workbench` loads scipy, about 0.8 s of CPU. The Overview, Parameters and Compare pages do not
    need it, so it is not on their path; dashboards/app.py calls this after a page has been drawn, so that
    by the time someone opens Attention heads, Activations or Analyses the import has already happened. A page
    that needs the module earlier simply waits for it (Python's import lock)."""
    thread = threading.Thread(target=_import_quietly, args=(module,), name=f"import-{module}", daemon=True)
    thread.start()
    return thread


def _import_quietly(module: str) -> None:
    # Only a head start: if the import fails here (seen once under AppTest, racing the script thread's own
    # imports), the page that needs the module imports it itself and reports any real error there.
    try:
        importlib.import_module(module)
    except Exception as err:  # whatever it is, a warm-up thread must not print a traceback
        log.debug("background import of %s failed (%s); pages import it when they need it", module, err)


def body(fn: Callable[[], None]) -> None:
    """Draw the page body; as a fragment re-run every 10 s when auto-refresh is on."""
    if st.session_state.get("auto_refresh"):
        st.fragment(fn, run_every="10s")()
    else:
        fn()


def chart(fig, key: str, computed_by: Callable | list[Callable], name: str | None = None,
          download: bool = False) -> None:
    """A chart with its plain-language explanation (explain.TEXTS[key]) and a 'show the code' expander.

    `fig` is a Plotly figure or, for the Overview's training curves, an Altair chart (figures/training.py
    says why). `name` must be unique on the page (it keys the chart's widgets); it defaults to `key`.
    """
    name = name or key
    if isinstance(fig, go.Figure):
        st.plotly_chart(fig, width="stretch", key=f"chart_{name}")
    else:
        st.altair_chart(fig, width="stretch", key=f"chart_{name}")
    if text := explain.text(key):
        st.caption(text)
    fns = computed_by if isinstance(computed_by, list) else [computed_by]
    # Lazy (on_change="rerun"): the code is sent and highlighted only once the expander is opened. Collapsed
    # expanders with their code inside cost the browser ~0.1 s each on every page load.
    code = st.expander("Show the code", key=f"code_{name}", on_change="rerun")
    if code.open:
        with code:
            for fn in fns:
                st.code(inspect.getsource(fn), language="python")
    if download:
        html = fig.to_html(include_plotlyjs="cdn") if isinstance(fig, go.Figure) else fig.to_html()
        st.download_button("Download chart (HTML)", html, file_name=f"{name}.html",
                           mime="text/html", key=f"dl_{name}")


def need(value, what: str) -> bool:
    """True if `value` is usable; otherwise show what is missing from the run and return False."""
    if value is None or (hasattr(value, "empty") and value.empty) or (hasattr(value, "__len__") and len(value) == 0):
        st.info(f"This run has no {what} yet. It appears here once training records it "
                "(use `--record` when training; refresh while it runs).")
        return False
    return True
