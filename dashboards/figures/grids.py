"""Heatmap figures: site x step, layer x head (with playback), attention patterns, similarity matrices.

Pure functions: arrays in, Plotly figures out; nothing here reads files or touches session state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.colors
import plotly.graph_objects as go

from dashboards.figures.prep import display_values, thin

TEMPLATE = "plotly_white"
MAX_FRAMES = 120  # playback frames; more makes the page heavy without showing more
MAX_COLUMNS = 250  # steps drawn in a site x step heatmap (400 took the browser ~0.4 s longer); see prep.thin
MAX_PATH_POINTS = 500  # steps drawn per path in a 2-D trajectory (as a line)
MAX_PATH_MARKERS = 60  # of those, steps drawn as markers coloured by step


def site_step_heatmap(table: pd.DataFrame, title: str, units: str = "", log_color: bool = False,
                      quantity: str = "value") -> go.Figure:
    """Rows: sites; columns: steps (at most MAX_COLUMNS, evenly spaced); colour: the value (log10 when `log_color`).

    The colour bar is titled with the quantity and its units (`"||W||_F"`, `"log10 ||dL/dW||_F"`), never a bare
    unit such as "1": units "1" or "" mean dimensionless and are not written."""
    table = table.iloc[:, thin(table.shape[1], MAX_COLUMNS)]
    z = table.to_numpy(dtype=float)
    if log_color:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(np.where(z > 0, z, np.nan))
    label = quantity if units in ("", "1") else f"{quantity} ({units})"
    label = f"log10 {label}" if log_color else label
    fig = go.Figure(go.Heatmap(z=display_values(z), x=np.asarray(table.columns), y=[str(s) for s in table.index],
                               colorscale="Viridis",
                               colorbar={"title": {"text": label}},
                               hovertemplate="site %{y}<br>step %{x}<br>" + label + " %{z:.4g}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="step", template=TEMPLATE,
                      height=max(300, min(900, 18 * len(table.index) + 120)),
                      margin={"l": 220, "r": 20, "t": 50, "b": 50})
    return fig


def grid_color_range(stat: str, units: str, values: np.ndarray, n_keys: int | None = None) -> tuple[float, float, str]:
    """The colour range of a head grid, the same at every step, and its name for the colour bar.

    Probabilities (head scores, normalised entropy) are anchored to [0, 1]; entropies in nats to
    [0, ln T] (T = the number of keys a query sees at most, the probe length); anything else to its
    range over the whole run (`values` holds every step). A grid that rescaled at every step would
    draw 0.097 and 0.101 as the two ends of the scale.

    >>> grid_color_range("induction", "probability", np.array([0.1, 0.2]))
    (0.0, 1.0, 'probability (fixed 0 to 1)')
    >>> grid_color_range("entropy", "nats", np.array([1.0]), n_keys=32)[1:]
    (3.4657359027997265, 'nats (fixed 0 to ln 32 = 3.47)')
    """
    if units == "probability" or stat == "entropy_normalized":
        return 0.0, 1.0, f"{'probability' if units == 'probability' else stat} (fixed 0 to 1)"
    if units == "nats" and n_keys:
        top = float(np.log(n_keys))
        return 0.0, top, f"nats (fixed 0 to ln {n_keys} = {top:.2f})"
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return lo, hi, f"{units or stat} (run-wide range)"


def _grid_text(roles: np.ndarray | None) -> np.ndarray | None:
    return None if roles is None else np.asarray(roles, dtype=object)


def head_grid(values: np.ndarray, title: str, units: str = "", zrange: tuple[float, float] | None = None,
              roles: np.ndarray | None = None, scale_name: str | None = None) -> go.Figure:
    """A layer x head grid (rows: layers, top = layer 0); `roles` (same shape, strings) is written in the cells.

    Colours use `zrange` (see grid_color_range: fixed for the whole run); without it, probabilities are
    drawn on [0, 1] and anything else on this grid's own range, which the colour bar then says."""
    values = np.asarray(values, dtype=float)
    n_layers, n_heads = values.shape
    if zrange is None and units == "probability":
        zrange, scale_name = (0.0, 1.0), scale_name or "probability (fixed 0 to 1)"
    if zrange is None:
        zrange = (float(np.nanmin(values)), float(np.nanmax(values)))
        scale_name = scale_name or f"{units} (this step's range)".strip()
    zmin, zmax = zrange
    fig = go.Figure(go.Heatmap(z=values, x=list(range(n_heads)), y=list(range(n_layers)), zmin=zmin, zmax=zmax,
                               colorscale="Viridis", colorbar={"title": {"text": scale_name or units}},
                               text=_grid_text(roles), texttemplate="%{text}" if roles is not None else None,
                               hovertemplate="layer %{y} head %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="head", yaxis_title="layer", template=TEMPLATE, height=420,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    fig.update_yaxes(autorange="reversed", dtick=1)
    fig.update_xaxes(dtick=1)
    return fig


def head_grid_playback(values: np.ndarray, steps: Sequence[int], title: str, units: str = "",
                       zrange: tuple[float, float] | None = None, scale_name: str | None = None) -> go.Figure:
    """Layer x head grids over steps with a Play button and a step slider (frames thinned to MAX_FRAMES).

    `values` has shape (step, layer, head_index); the colour range is fixed over all steps (`zrange`, else
    the run-wide range) so that colours are comparable between frames.
    """
    values = np.asarray(values, dtype=float)
    steps = np.asarray(steps)
    idx = thin(len(steps), MAX_FRAMES)
    if zrange is None:
        zrange = (float(np.nanmin(values)), float(np.nanmax(values)))
        scale_name = scale_name or f"{units} (run-wide range)".strip()
    fig = head_grid(values[idx[0]], title, units, zrange, scale_name=scale_name)
    fig.frames = [go.Frame(data=[go.Heatmap(z=display_values(values[i]))], name=str(int(steps[i]))) for i in idx]
    play = {"args": [None, {"frame": {"duration": 120, "redraw": True}, "fromcurrent": True}],
            "label": "Play", "method": "animate"}
    pause = {"args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}],
             "label": "Pause", "method": "animate"}
    fig.update_layout(
        updatemenus=[{"type": "buttons", "buttons": [play, pause], "x": 0, "y": -0.12, "xanchor": "left"}],
        sliders=[{"currentvalue": {"prefix": "step "}, "x": 0.15, "len": 0.85, "y": -0.05,
                  "steps": [{"args": [[str(int(steps[i]))], {"frame": {"duration": 0, "redraw": True},
                                                             "mode": "immediate"}],
                             "label": str(int(steps[i])), "method": "animate"} for i in idx]}],
        height=500, margin={"l": 60, "r": 20, "t": 50, "b": 110})
    return fig


def attention_pattern(pattern: np.ndarray, tokens: Sequence[str], title: str) -> go.Figure:
    """Attention probabilities of one head: rows are queries, columns keys, token text on both axes.

    Row q sums to 1 over keys k <= q (causal). Token labels get their position appended so that
    repeated tokens stay distinct axis categories.
    """
    pattern = np.asarray(pattern, dtype=float)
    n = pattern.shape[0]
    labels = [f"{i}:{tokens[i]}" if i < len(tokens) else str(i) for i in range(n)]
    fig = go.Figure(go.Heatmap(z=pattern, x=labels, y=labels, zmin=0, zmax=1, colorscale="Blues",
                               colorbar={"title": {"text": "probability"}},
                               hovertemplate="query %{y}<br>key %{x}<br>p = %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="key (attended-to token)", yaxis_title="query (current token)",
                      template=TEMPLATE, height=max(420, min(900, 14 * n + 200)),
                      margin={"l": 100, "r": 20, "t": 50, "b": 100})
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category", tickangle=-60)
    return fig


def similarity_matrix(matrix: np.ndarray, labels: Sequence[str], title: str) -> go.Figure:
    """A symmetric similarity matrix (e.g. CKA between layers), 0 to 1."""
    fig = go.Figure(go.Heatmap(z=np.asarray(matrix, float), x=list(labels), y=list(labels), zmin=0, zmax=1,
                               colorscale="Viridis", colorbar={"title": {"text": "similarity"}},
                               hovertemplate="%{y} vs %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, template=TEMPLATE, height=460, margin={"l": 120, "r": 20, "t": 50, "b": 100})
    fig.update_yaxes(autorange="reversed")
    return fig


def trajectory_2d(points: np.ndarray, steps: Sequence[int], names: Sequence[str], title: str,
                  explained: Sequence[float] = ()) -> go.Figure:
    """Paths in a 2-D projection, one per name: `points` has shape (name, step, 2); marker colour follows step.

    Each path is a line through at most MAX_PATH_POINTS steps, with markers coloured by step at most
    MAX_PATH_MARKERS of them (evenly spaced, first and last included; see prep.thin): thousands of SVG markers
    took the browser a second to draw, a line of the same points a tenth of that."""
    idx = thin(len(steps), MAX_PATH_POINTS)
    points, steps = np.asarray(points)[:, idx], np.asarray(steps)[idx].astype(np.int32)
    marks = thin(len(steps), MAX_PATH_MARKERS)
    fig = go.Figure()
    colors = plotly.colors.qualitative.Plotly  # the template's own line colours, so each item keeps one colour
    # Numeric arrays for colour and hover (customdata), not lists of per-point strings: the browser receives a
    # few kB of binary instead of hundreds of kB of JSON text.
    for k, name in enumerate(names):
        color = colors[k % len(colors)]
        x, y = display_values(points[k, :, 0]), display_values(points[k, :, 1])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=str(name), legendgroup=str(k), customdata=steps,
                                 line={"color": color, "width": 1.5},
                                 hovertemplate="step %{customdata}<extra>" + str(name) + "</extra>"))
        fig.add_trace(go.Scatter(x=x[marks], y=y[marks], mode="markers", name=str(name), legendgroup=str(k),
                                 showlegend=False, customdata=steps[marks],
                                 marker={"color": steps[marks], "colorscale": "Viridis", "size": 7,
                                         "cmin": int(steps[0]), "cmax": int(steps[-1]),
                                         "line": {"color": color, "width": 1}},
                                 hovertemplate="step %{customdata}<extra>" + str(name) + "</extra>"))
    ev = list(explained) + [np.nan, np.nan]
    fig.update_layout(title=title, template=TEMPLATE, height=460,
                      xaxis_title=f"PC1 ({100 * ev[0]:.0f}% of variance)", yaxis_title=f"PC2 ({100 * ev[1]:.0f}%)")
    return fig
