"""Line figures over training: any statistic per site, one head's trajectories, runs overlaid, fits and bands.

The Overview's loss, perplexity and learning-rate charts are in training.py (Vega-Lite, see there why).

Pure functions: tables in, Plotly figures out; nothing here reads files or touches session state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.figures.prep import display_values, line_colors, model_order, points_per_line, thin

TEMPLATE = "plotly_white"
MAX_POINTS = 1500  # per line, fewer when a chart has many lines; see prep.thin and prep.points_per_line
MAX_MARKERS = 300  # a series longer than this is drawn as a line without markers


def _layout(fig: go.Figure, title: str, x_label: str, y_label: str, log_y: bool = False) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template=TEMPLATE,
                      height=360, margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def add_events(fig: go.Figure, events=()) -> go.Figure:
    """Mark events on the step axis: each a dict with `step`, `label`, optional `lo`/`hi` (a CI band, shaded)
    and `kind` ("onset": orange, "change point": red dots, else grey). The same marks on every chart over
    steps let the kurtosis jump and the weight-norm acceleration be read against the induction onset."""
    colours = {"onset": "darkorange", "change point": "firebrick"}
    for e in events:
        colour = colours.get(e.get("kind", ""), "grey")
        lo, hi = e.get("lo"), e.get("hi")
        if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
            fig.add_vrect(x0=float(lo), x1=float(hi), fillcolor=colour, opacity=0.15, line_width=0)
        fig.add_vline(x=float(e["step"]), line_dash="dot", line_color=colour,
                      annotation_text=e.get("label", ""), annotation_font_size=10)
    return fig


def lines(table: pd.DataFrame, title: str, y_label: str, log_y: bool = False, x_label: str = "step",
          events=(), layers: dict | None = None) -> go.Figure:
    """One line per column of `table` (index: the x values, e.g. step), in model order (layer, then site) with
    a colour each (sequential by layer, none repeated), and `events` marked on the step axis. `layers` maps a
    column to its `layer` coordinate (else a site name's block number orders it)."""
    fig = go.Figure()
    table = table.iloc[thin(len(table), points_per_line(table.shape[1], MAX_POINTS))]
    x = np.asarray(table.index)
    names = sorted((str(c) for c in table.columns), key=lambda n: model_order(n, layers))
    colours = line_colors(names, layers)
    by_name = {str(c): c for c in table.columns}
    for name in names:
        fig.add_trace(go.Scatter(x=x, y=display_values(table[by_name[name]]), name=name, mode="lines",
                                 line={"color": colours[name]}))
    return add_events(_layout(fig, title, x_label, y_label, log_y), events)


def overlay_runs(series: dict[str, pd.Series], title: str, y_label: str, log_y: bool = False) -> go.Figure:
    """The same statistic from several runs on one set of axes (run name -> series indexed by step)."""
    fig = go.Figure()
    per_line = points_per_line(len(series), MAX_POINTS)
    for name, s in series.items():
        s = s.iloc[thin(len(s), per_line)]
        fig.add_trace(go.Scatter(x=np.asarray(s.index), y=display_values(s.values), name=name, mode="lines"))
    return _layout(fig, title, "step", y_label, log_y)


def head_trajectories(table: pd.DataFrame, title: str, onset: float | None = None, events=(),
                      thresholds: dict[str, float] | None = None) -> go.Figure:
    """One head's statistics over steps: probabilities (scores) on the left axis, entropy (nats) on a right axis,
    so no axis mixes units; `thresholds` (role name -> probability) as horizontal lines, `events` on the step axis."""
    fig = go.Figure()
    idx = thin(len(table), points_per_line(table.shape[1], MAX_POINTS))
    x = np.asarray(table.index)[idx]
    colours = line_colors([str(c) for c in table.columns])
    entropy = [c for c in table.columns if "entropy" in str(c) and "normalized" not in str(c)]
    for col in table.columns:
        fig.add_trace(go.Scatter(x=x, y=display_values(table[col].to_numpy()[idx]), name=str(col), mode="lines",
                                 line={"color": colours[str(col)], "dash": "dot" if col in entropy else "solid"},
                                 yaxis="y2" if col in entropy else "y"))
    _layout(fig, title, "step", "probability (scores)")
    fig.update_yaxes(range=[0, 1])
    if entropy:
        fig.update_layout(yaxis2={"title": "entropy (nats)", "overlaying": "y", "side": "right", "rangemode": "tozero"})
    for name, level in (thresholds or {}).items():
        fig.add_hline(y=level, line_dash="dash", line_color="grey", line_width=1,
                      annotation_text=f"{name} threshold {level:g}", annotation_font_size=10)
    if onset is not None and np.isfinite(onset):
        events = [*events, {"step": onset, "label": f"onset ~ step {onset:g}", "kind": "onset"}]
    return add_events(fig, events)


def series_with_marks(steps: np.ndarray, y: np.ndarray, title: str, y_label: str, marks: list[float] = (),
                      fitted: np.ndarray | None = None, fit_name: str = "fit", events=()) -> go.Figure:
    """A trajectory with vertical marks (e.g. change points) and an optional fitted curve over it."""
    idx = thin(len(steps), MAX_POINTS)
    steps, y = np.asarray(steps)[idx], display_values(np.asarray(y)[idx])
    # Markers only on short series: past a few hundred points they hide the line and cost the browser
    # one SVG element each.
    mode = "lines+markers" if len(steps) <= MAX_MARKERS else "lines"
    fig = go.Figure(go.Scatter(x=steps, y=y, name="recorded", mode=mode, marker={"size": 4}))
    if fitted is not None:
        fitted = display_values(np.asarray(fitted)[idx])
        fig.add_trace(go.Scatter(x=steps, y=fitted, name=fit_name, mode="lines", line={"dash": "dash"}))
    for m in marks:
        fig.add_vline(x=float(m), line_dash="dot", line_color="firebrick")
    return add_events(_layout(fig, title, "step", y_label), events)


def xcorr_bars(table: pd.DataFrame, title: str, bound: float | None = None, n_lags: int | None = None) -> go.Figure:
    """Correlation at each lag (columns `lag`, `r`), with the +-bound band of no correlation (Bonferroni-corrected
    for the `n_lags` lags tested when given, as workbench.lagged_xcorr's `bound` is)."""
    fig = go.Figure(go.Bar(x=table["lag"], y=table["r"], name="r"))
    if bound is not None and np.isfinite(bound):
        band = f"95% band, corrected for {n_lags} lags" if n_lags else "95% band"
        for b in (bound, -bound):
            fig.add_hline(y=b, line_dash="dash", line_color="grey", annotation_text=band if b > 0 else "")
    return _layout(fig, title, "lag (records; positive: x changes first, negative: y changes first)", "Pearson r")


def seed_band(table: pd.DataFrame, title: str, y_label: str, level: float = 0.95, kind: str = "seeds") -> go.Figure:
    """Runs as thin lines (columns) with their mean and a t confidence band of the mean (index: step).

    The band is workbench.seed_bands' (``mean +- t_{(1+level)/2, k-1} sd / sqrt(k)``), the same definition as the
    report's, and its legend says so; `kind` ("seeds" or "runs") names what the columns are."""
    from workbench.reliability import seed_bands  # scipy: imported when a band is drawn, not with the page

    bands = seed_bands(table.to_numpy(dtype=float).T, level=level)  # over every record; only the drawing is thinned
    fig = go.Figure()
    idx = thin(len(table), points_per_line(table.shape[1] + 3, MAX_POINTS))
    table, b = table.iloc[idx], bands.iloc[idx]
    x = np.asarray(table.index)
    k = table.shape[1]
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]),
                             y=display_values(np.concatenate([b["ci_high"], b["ci_low"].to_numpy()[::-1]])),
                             fill="toself", name=f"{level:.0%} CI of the mean over {k} {kind} (t, {k - 1} df)",
                             line={"width": 0}, fillcolor="rgba(31,119,180,0.2)"))
    for col in table.columns:
        fig.add_trace(go.Scatter(x=x, y=display_values(table[col]), name=str(col), mode="lines", line={"width": 1}))
    fig.add_trace(go.Scatter(x=x, y=display_values(b["mean"]), name="mean", mode="lines", line={"width": 3}))
    return _layout(fig, title, "step", y_label)
