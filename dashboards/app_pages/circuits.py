"""Circuits (algorithmic level): which heads the behaviour depends on, how they compose, where the prediction forms."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboards import data, ui
from dashboards.figures import circuit_timeline, composition_graph, head_grid, head_grid_playback, lines

REPLAY = "python -m recorders.replay RUN"

st.title("Circuits")
st.caption("Algorithmic level, causally: ablation effects, composition between heads and the logit lens over training. "
           f"Runs record `composition` by default; add the others with `{REPLAY}` (every kept checkpoint) or "
           "`--record what=...` while training.")
runs = ui.run_choice()


def ablation(run: str, sig: tuple) -> None:
    st.subheader("Head ablation")
    ds = data.load_group(run, "ablation", sig)
    if not ui.need(ds, f"ablation records (add them with `{REPLAY}`)"):
        return
    steps = [int(s) for s in ds["step"].values]
    step = st.select_slider("Step", steps, value=steps[-1], key="circuits_step")
    labels = {"repeat_loss_change": "repeated half of the induction probe", "loss_change": "natural probe"}
    var = st.radio("Loss on", list(labels), format_func=labels.get, horizontal=True, key="circuits_ablation_on")
    values = ds[var]
    null = ds[var.replace("loss_change", "null_loss_change")].sel(step=step).values
    ui.chart(head_grid(values.sel(step=step).values, f"Mean-ablation effect at step {step}: {labels[var]}", "nats"),
             "ablation", head_grid, name="ablation_grid")
    st.caption(f"Null band at step {step} (random direction of the same norm): "
               f"{np.nanmin(null):.3f} to {np.nanmax(null):.3f} nats over heads.")
    if st.toggle("Playback over all steps", key="circuits_playback"):
        ui.chart(head_grid_playback(values.values, steps, f"Mean-ablation effect over training: {labels[var]}", "nats"),
                 "ablation", head_grid_playback, name="ablation_playback")


def composition(run: str, sig: tuple) -> None:
    st.subheader("Composition between layers")
    ds = data.load_group(run, "composition", sig)
    if not ui.need(ds, f"composition records (add them with `{REPLAY}`)"):
        return
    steps = [int(s) for s in ds["step"].values]
    wanted = st.session_state.get("circuits_step", steps[-1])
    step = min(steps, key=lambda s: abs(s - wanted))  # the ablation slider's step, or the nearest composition record
    kinds = [str(k) for k in ds["kind"].values]
    kind = st.radio("Composition", kinds, index=kinds.index("k") if "k" in kinds else 0, horizontal=True,
                    format_func=lambda k: f"{k.upper()}-composition", key="circuits_kind")
    at = ds.sel(step=step, kind=kind)
    q95 = float(at["null_score"].sel(statistic="q95"))
    ui.chart(composition_graph(at["score"].values, q95, f"{kind.upper()}-composition at step {step} "
                               f"(edges above the null band {q95:.3f})"), "composition", composition_graph,
             name="composition_graph")


def logit_lens(run: str, sig: tuple) -> None:
    st.subheader("Logit lens")
    ds = data.load_group(run, "logit_lens", sig)
    if not ui.need(ds, f"logit-lens records (add them with `{REPLAY}`)"):
        return
    var = st.radio("Loss on", ["repeat_loss", "loss"], horizontal=True, key="circuits_lens_on",
                   format_func={"repeat_loss": "repeated half of the induction probe", "loss": "natural probe"}.get)
    table = pd.DataFrame(ds[var].values, index=ds["step"].values,
                         columns=[f"after layer {i}" for i in range(ds.sizes["layer"])])
    ui.chart(lines(table, "Logit-lens loss by layer over training", "nats"), "logit_lens", lines, name="lens")


def timeline(run: str, sig: tuple) -> None:
    st.subheader("The induction circuit on one time axis")
    found, series = data.circuit(run, sig)
    if found.induction_head is None or not ui.need(series, "head scores for the induction circuit"):
        return
    layer, head = found.induction_head
    feeder = f"fed by L{found.feeder[0]}H{found.feeder[1]}" if found.feeder else "no composition records"
    onsets = {} if found.onsets is None else dict(zip(found.onsets["trajectory"], found.onsets["onset"], strict=True))
    table = pd.concat(series, axis=1).sort_index()
    ui.chart(circuit_timeline(table, onsets, f"Induction head L{layer}H{head} ({feeder})"), "circuit",
             [circuit_timeline, data.circuit], name="timeline")
    if found.onsets is not None and len(found.onsets):
        st.dataframe(found.onsets, hide_index=True)
    for note in found.notes:
        st.caption(note)


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    ablation(run, sig)
    composition(run, sig)
    logit_lens(run, sig)
    timeline(run, sig)


if runs:
    ui.body(page)
