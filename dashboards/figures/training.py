"""The Overview's training curves (loss, perplexity, learning rate), drawn with Vega-Lite through Altair.

Why not Plotly like every other chart: the Overview is the page a new user lands on, and Plotly's
browser bundle is 4.7 MB of JavaScript that takes the browser about 0.7 s of one core to evaluate
(measured in headless Chromium, `benchmarks/dashboard_render.py`). Vega-Lite's bundle is about a
sixth of that, so the landing page draws without waiting for Plotly; `dashboards/preload.py` then
loads Plotly in the background for the other pages.

Pure function: a metrics table in, an Altair chart out; nothing here reads files or touches session state.
"""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from dashboards.figures.prep import display_values, thin

MAX_POINTS = 1500  # per line, as in curves.py
HEIGHT = 360  # pixels, the height of the Plotly charts on the other pages
Y_LABELS = {"loss": "loss (nats per token)", "ppl": "perplexity (exp of loss)", "lr": "learning rate"}
TITLES = {"loss": "Loss", "ppl": "Perplexity", "lr": "Learning rate"}
# Plotly's first two default colours, as on the other pages: validation must not look like a shade of train.
COLOURS = {"train": "#1f77b4", "validation": "#ff7f0e", "learning rate": "#1f77b4"}


def training_table(metrics: pd.DataFrame, y: str = "loss", x: str = "step") -> pd.DataFrame:
    """The long table a training chart draws: columns `x` (step or tokens), `value` and `series`.

    Series: "train" (step rows, at most MAX_POINTS of them, evenly spaced) and "validation" (eval rows,
    every one), or "learning rate". Eval rows get their token count from the step row of the same step.
    """
    steps = metrics[metrics["event"] == "step"] if "event" in metrics else metrics
    steps = steps.iloc[thin(len(steps), MAX_POINTS)]
    evals = metrics[metrics["event"] == "eval"] if "event" in metrics else metrics.iloc[0:0]
    if x == "tokens" and "tokens" in steps and not evals.empty:
        evals = evals.drop(columns=["tokens"], errors="ignore").merge(steps[["step", "tokens"]], on="step", how="left")
    parts = []
    if y == "lr":
        if "lr" in steps:
            parts.append(("learning rate", steps[x], steps["lr"]))
    else:
        transform = np.exp if y == "ppl" else (lambda v: v)
        if "loss" in steps:
            parts.append(("train", steps[x], transform(steps["loss"])))
        if "val_loss" in evals and not evals.empty:
            parts.append(("validation", evals[x], transform(evals["val_loss"])))
    columns = [x, "value", "series"]
    frames = [pd.DataFrame({x: np.asarray(xs), "value": display_values(vs), "series": name}) for name, xs, vs in parts]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def training_curves(metrics: pd.DataFrame, y: str = "loss", x: str = "step", log_y: bool = False,
                    events=()) -> alt.Chart:
    """Training and validation curves from metrics.jsonl rows, as a zoomable Vega-Lite chart.

    `y` is "loss" (train loss and val_loss, nats), "ppl" (exp of each, tokens) or "lr".
    `x` is "step" or "tokens" (falls back to step when the rows have no token counts).
    Validation points are drawn as points only, not joined: each is an average over held-out batches at
    one step, and a line between two of them would claim values at the steps in between that were never
    measured. `events` (dicts with `step`, `label`, optional `lo`/`hi`) are marked as vertical rules
    (with a shaded CI band) when the x axis is steps.
    """
    x = x if x in metrics else "step"
    table = training_table(metrics, y, x)
    if log_y:  # a log axis cannot place zero or negative values (a learning rate at step 0 is 0)
        table = table[table["value"] > 0]
    names = ["learning rate"] if y == "lr" else ["train", "validation"]
    base = alt.Chart(table).encode(
        x=alt.X(f"{x}:Q", title=x),
        y=alt.Y("value:Q", title=Y_LABELS[y], scale=alt.Scale(type="log" if log_y else "linear", zero=False)),
        color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=names, range=[COLOURS[n] for n in names])),
        tooltip=[alt.Tooltip("series:N"), alt.Tooltip(f"{x}:Q", format=","), alt.Tooltip("value:Q", format=".4g")],
    )
    validation = base.transform_filter(alt.datum.series == "validation").mark_point(filled=True, size=30)
    line = base.transform_filter(alt.datum.series != "validation").mark_line(opacity=0.85)
    layers = [line, validation]
    if events and x == "step":
        ev = pd.DataFrame([{"step": float(e["step"]), "lo": float(e.get("lo", e["step"])),
                            "hi": float(e.get("hi", e["step"])), "label": str(e.get("label", ""))} for e in events])
        marks = alt.Chart(ev)
        layers += [marks.mark_rect(opacity=0.15, color="darkorange").encode(x="lo:Q", x2="hi:Q"),
                   marks.mark_rule(color="darkorange", strokeDash=[4, 3]).encode(x="step:Q", tooltip=["label:N"])]
    return alt.layer(*layers).properties(title=TITLES[y], height=HEIGHT).interactive()
