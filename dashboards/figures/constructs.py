"""Figures of the Constructs page: item x item similarity ordered by construct, and trajectories with the null band.

Pure functions: arrays and tables in, Plotly figures out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

TEMPLATE = "plotly_white"


def construct_order(constructs: Sequence[str], keys: Sequence[int]) -> np.ndarray:
    """Item order for display: by construct (in order of first appearance), positively keyed items first."""
    names = list(dict.fromkeys(constructs))
    return np.array(sorted(range(len(constructs)), key=lambda i: (names.index(constructs[i]), -keys[i], i)))


def item_similarity(S: np.ndarray, ids: Sequence[str], constructs: Sequence[str], keys: Sequence[int],
                    title: str) -> go.Figure:
    """Heatmap of an item x item matrix on a fixed [-1, 1] scale, items ordered by construct (boxes outline each construct)."""
    order = construct_order(constructs, keys)
    labels = [f"{ids[i]} ({'+' if keys[i] > 0 else '-'})" for i in order]
    Z = np.asarray(S, dtype=float)[np.ix_(order, order)]
    fig = go.Figure(go.Heatmap(z=Z, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu", reversescale=True,
                               colorbar={"title": {"text": "cosine"}},
                               hovertemplate="%{y} vs %{x}<br>%{z:.3f}<extra></extra>"))
    ordered = [constructs[i] for i in order]
    start = 0
    for name in dict.fromkeys(ordered):
        n = ordered.count(name)
        fig.add_shape(type="rect", x0=start - 0.5, x1=start + n - 0.5, y0=start - 0.5, y1=start + n - 0.5,
                      line={"color": "black", "width": 1.5})
        fig.add_annotation(x=start + n / 2 - 0.5, y=-1.5, text=name, showarrow=False, yanchor="bottom", font={"size": 11})
        start += n
    fig.update_layout(title=title, template=TEMPLATE, height=640, margin={"l": 160, "r": 20, "t": 70, "b": 140})
    fig.update_yaxes(autorange="reversed")
    return fig


def construct_trajectory(traj: pd.DataFrame, statistic: str, title: str, y_label: str,
                         onset: float | None = None, reference: float | None = None) -> go.Figure:
    """One statistic over steps on the real labels, with the shuffled-label band (min..max) and the scrambled control.

    `traj`: rows of `workbench.constructs.trajectories` for one statistic. `onset`: a vertical mark;
    `reference`: a horizontal mark (e.g. congruence 0.9 or the number of constructs).
    """
    t = traj[traj["statistic"] == statistic].sort_values("step")
    x = t["step"].to_numpy()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([t["null_high"], t["null_low"][::-1]]),
                             fill="toself", line={"width": 0}, fillcolor="rgba(150,150,150,0.3)",
                             name="shuffled labels (min..max)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=x, y=t["scrambled"], mode="lines", line={"dash": "dot", "color": "gray"},
                             name="scrambled dimensions"))
    fig.add_trace(go.Scatter(x=x, y=t["value"], mode="lines+markers", line={"width": 3, "color": "#1f77b4"},
                             name="item labels"))
    if onset is not None and np.isfinite(onset):
        fig.add_vline(x=onset, line={"dash": "dash", "color": "#d62728"}, annotation_text="onset")
    if reference is not None:
        fig.add_hline(y=reference, line={"dash": "dot", "color": "#2ca02c"})
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_label, template=TEMPLATE, height=340,
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, legend={"orientation": "h", "y": -0.25})
    return fig
