"""Shared page pieces: the run picker, auto-refresh, and a chart with its explanation and its code."""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from dashboards import choices, data, explain

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
        # The seeds of one --seeds group, else one run: never two unrelated runs drawn as replications.
        chosen = st.sidebar.multiselect("Runs", list(names), default=choices.default_runs(list(names)),
                                        key="runs_compare")
        if len(chosen) == 1 and len(names) > 1 and not choices.seed_groups(list(names)):
            st.sidebar.caption("Only one run is selected at first: the runs here are not seeds of one `--seeds` "
                               "group. Add runs to compare settings.")
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


def _empty(value) -> bool:
    return value is None or (hasattr(value, "empty") and value.empty) or (hasattr(value, "__len__") and len(value) == 0)


def need(value, what: str) -> bool:
    """True if `value` is usable; otherwise show what is missing from the run and return False."""
    if _empty(value):
        st.info(f"This run has no {what} yet. It appears here once training records it "
                "(use `--record` when training; refresh while it runs).")
        return False
    return True


def need_after_filter(value, what: str, recorded: bool, filters: str) -> bool:
    """Like `need`, but when the run did record `what` and the page's filters removed all of it, say that
    (an empty chart after filtering is the filter's doing, not a missing `--record`)."""
    if not _empty(value):
        return True
    if recorded:
        st.warning(f"No {what} match the current filters ({filters}); widen or clear them to see the chart.")
        return False
    return need(value, what)


def comparison_warning(runs: list[Path]) -> bool:
    """Warn (once per page) when the chosen runs are not seeds of one configuration; True when they are seeds."""
    names = [p.parent.name + "/" + p.name for p in runs]
    configs = {n: data.load_config(str(p)) for n, p in zip(names, runs)}
    text = choices.comparison_warning(names, configs)
    if text:
        st.warning(text)
    return len(runs) >= 2 and text is None


def valid_choice(key: str, options: list) -> None:
    """Drop a widget's remembered value when it is not among `options` (a step past the end of a shorter run,
    after switching runs), so the widget is drawn with its default, inside the range. Dropped rather than
    overwritten: a value set through st.session_state next to a widget default makes Streamlit warn."""
    if key in st.session_state and choices.stale(st.session_state[key], options):
        del st.session_state[key]


def run_events(run: str, sig: tuple, max_change_points: int = 4) -> list[dict]:
    """Events to mark on every chart over steps, so that changes in different statistics can be lined up:
    the logistic onset of the strongest induction head with its CI band (delta method), and the change points
    of the recorded training loss in slope (at most `max_change_points`; binary segmentation finds the
    largest first).
    Each is computed once per run and cached (data.workbench_call)."""
    events = []
    scores = data.load_group(run, "head_scores", sig)
    if scores is not None and "induction" in scores and scores.sizes.get("step", 0) >= 8:
        layer, head = data.strongest_head(run, sig)
        y = scores["induction"].isel(layer=layer, head_index=head).values.astype(float)
        try:
            o = data.workbench_call("onset_with_ci", scores["step"].values.astype(float), y, method="delta")
            events.append({"step": o.onset, "lo": o.onset_ci[0], "hi": o.onset_ci[1], "kind": "onset",
                           "label": f"L{layer}H{head} onset {o.onset:.0f}"})
        except ValueError:  # WorkbenchError: no rise, no onset
            pass
    loss = data.load_group(run, "loss", sig)
    if loss is not None and "train_loss" in loss and loss.sizes.get("step", 0) >= 10:
        y = loss["train_loss"].values.astype(float)
        ok = np.isfinite(y)
        try:
            cps = data.workbench_call("change_points", loss["step"].values.astype(float)[ok], y[ok], model="linear",
                                      max_points=max_change_points)
            events += [{"step": float(s), "kind": "change point", "label": "loss slope change"}
                       for s in cps.get("step", [])]
        except ValueError:
            pass
    return events
