"""Line figures over training: any statistic per site, one head's trajectories, runs overlaid, fits and bands.

The Overview's loss, perplexity and learning-rate charts are in training.py (Vega-Lite, see there why).

Pure functions: tables in, Plotly figures out; nothing here reads files or touches session state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboards.figures.prep import display_values, points_per_line, thin

TEMPLATE = "plotly_white"
MAX_POINTS = 1500  # per line, fewer when a chart has many lines; see prep.thin and prep.points_per_line
MAX_MARKERS = 300  # a series longer than this is drawn as a line without markers


def _layout(fig: go.Figure, title: str, x_label: str, y_label: str, log_y: bool = False) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, template=TEMPLATE,
                      height=360, margin={"l": 60, "r": 20, "t": 50, "b": 50}, legend={"orientation": "h", "y": -0.25})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def lines(table: pd.DataFrame, title: str, y_label: str, log_y: bool = False, x_label: str = "step") -> go.Figure:
    """One line per column of `table` (index: the x values, e.g. step)."""
    fig = go.Figure()
    table = table.iloc[thin(len(table), points_per_line(table.shape[1], MAX_POINTS))]
    x = np.asarray(table.index)
    for col in table.columns:
        fig.add_trace(go.Scatter(x=x, y=display_values(table[col]), name=str(col), mode="lines"))
    return _layout(fig, title, x_label, y_label, log_y)


def overlay_runs(series: dict[str, pd.Series], title: str, y_label: str, log_y: bool = False) -> go.Figure:
    """The same statistic from several runs on one set of axes (run name -> series indexed by step)."""
    fig = go.Figure()
    per_line = points_per_line(len(series), MAX_POINTS)
    for name, s in series.items():
        s = s.iloc[thin(len(s), per_line)]
        fig.add_trace(go.Scatter(x=np.asarray(s.index), y=display_values(s.values), name=name, mode="lines"))
    return _layout(fig, title, "step", y_label, log_y)


def head_trajectories(table: pd.DataFrame, title: str, onset: float | None = None) -> go.Figure:
    """One head's statistics over steps (columns: statistics), with an optional vertical line at an onset step."""
    fig = lines(table, title, "value")
    if onset is not None and np.isfinite(onset):
        fig.add_vline(x=onset, line_dash="dash", annotation_text=f"onset ~ step {onset:g}")
    return fig


def series_with_marks(steps: np.ndarray, y: np.ndarray, title: str, y_label: str, marks: list[float] = (),
                      fitted: np.ndarray | None = None, fit_name: str = "fit") -> go.Figure:
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
    return _layout(fig, title, "step", y_label)


def xcorr_bars(table: pd.DataFrame, title: str, bound: float | None = None) -> go.Figure:
    """Correlation at each lag (columns `lag`, `r`), with the +-bound band of no correlation."""
    fig = go.Figure(go.Bar(x=table["lag"], y=table["r"], name="r"))
    if bound is not None and np.isfinite(bound):
        for b in (bound, -bound):
            fig.add_hline(y=b, line_dash="dash", line_color="grey")
    return _layout(fig, title, "lag (records; positive: x leads y)", "Pearson r")


def seed_band(table: pd.DataFrame, title: str, y_label: str) -> go.Figure:
    """Runs as thin lines (columns) with their mean and a +-1 SD band across runs (index: step)."""
    fig = go.Figure()
    mean, sd = table.mean(axis=1), table.std(axis=1)  # over every record; only the drawing is thinned
    idx = thin(len(table), points_per_line(table.shape[1] + 3, MAX_POINTS))
    table, mean, sd = table.iloc[idx], mean.iloc[idx].to_numpy(), sd.iloc[idx].to_numpy()
    x = np.asarray(table.index)
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=display_values(np.concatenate([mean + sd, (mean - sd)[::-1]])),
                             fill="toself", name="mean +- 1 SD", line={"width": 0}, fillcolor="rgba(31,119,180,0.2)"))
    for col in table.columns:
        fig.add_trace(go.Scatter(x=x, y=display_values(table[col]), name=str(col), mode="lines", line={"width": 1}))
    fig.add_trace(go.Scatter(x=x, y=display_values(mean), name="mean", mode="lines", line={"width": 3}))
    return _layout(fig, title, "step", y_label)
