"""Circuit figures: the composition graph between layers, and trajectories on one time axis with onsets.

Pure functions: arrays and tables in, Plotly figures out; nothing here reads files or touches session state.
The ablation grid reuses `grids.head_grid` / `head_grid_playback`; the logit lens by layer, `curves.lines`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

TEMPLATE = "plotly_white"
MAX_EDGES = 40  # the strongest edges drawn; more hide each other


def composition_graph(score: np.ndarray, threshold: float, title: str) -> go.Figure:
    """Heads as nodes (x: layer, y: head), an edge from each earlier head to each later head scoring above
    `threshold` (the null band), its width and opacity growing with the score; at most MAX_EDGES edges.

    `score` is (src_layer, src_head, dst_layer, dst_head), NaN where src_layer >= dst_layer.
    """
    score = np.asarray(score, dtype=float)
    n_layers, n_heads = score.shape[:2]
    fig = go.Figure()
    flat = np.nan_to_num(score, nan=-np.inf).ravel()
    order = [i for i in np.argsort(flat)[::-1][:MAX_EDGES] if flat[i] > threshold]
    top = float(flat[order[0]]) if order else threshold
    for i in order:
        sl, sh, dl, dh = np.unravel_index(i, score.shape)
        strength = (flat[i] - threshold) / max(top - threshold, 1e-12)  # 0 at the null band, 1 at the strongest
        fig.add_trace(go.Scatter(x=[sl, dl], y=[sh, dh], mode="lines", showlegend=False,
                                 line={"width": 1 + 7 * strength, "color": f"rgba(200, 80, 30, {0.25 + 0.75 * strength:.2f})"},
                                 hovertemplate=f"L{sl}H{sh} -> L{dl}H{dh}: {flat[i]:.3f}<extra></extra>"))
    layers, heads = np.meshgrid(np.arange(n_layers), np.arange(n_heads), indexing="ij")
    fig.add_trace(go.Scatter(x=layers.ravel(), y=heads.ravel(), mode="markers+text", showlegend=False,
                             text=[f"L{lyr}H{h}" for lyr, h in zip(layers.ravel(), heads.ravel(), strict=True)],
                             textposition="top center", marker={"size": 14, "color": "#3b6ea5"},
                             hoverinfo="text"))
    fig.update_layout(title=title, xaxis_title="layer", yaxis_title="head", template=TEMPLATE, height=420,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(dtick=1, autorange="reversed")
    if not order:
        fig.add_annotation(text="no pair above the null band at this step", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def circuit_timeline(table: pd.DataFrame, onsets: dict[str, float], title: str) -> go.Figure:
    """Trajectories rescaled to their own rise (columns; index: step) on one axis; a dotted line at each onset.

    Each column is drawn over its own records (a replayed trajectory has a few checkpoints, an inline one every
    record step), with markers when it has few.
    """
    fig = go.Figure()
    palette = plotly.colors.qualitative.Plotly
    for i, name in enumerate(table.columns):
        col, color = table[name].dropna(), palette[i % len(palette)]
        if col.empty:
            continue
        mode = "lines+markers" if len(col) <= MAX_EDGES else "lines"
        fig.add_trace(go.Scatter(x=np.asarray(col.index), y=col.to_numpy(dtype=float), name=str(name), mode=mode,
                                 line={"color": color}))
        if np.isfinite(onsets.get(name, np.nan)):
            fig.add_vline(x=float(onsets[name]), line_dash="dot", line_color=color)
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="fraction of its rise (0 = first record, 1 = peak)",
                      template=TEMPLATE, height=420, margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.25})
    return fig
