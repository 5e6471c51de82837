"""Attention heads (algorithmic level): what procedure each head carries out, at every recorded step."""

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr

import workbench as wb
from dashboards import data, ui
from dashboards.figures import attention_pattern, head_grid, head_grid_playback, head_trajectories
from dashboards.figures.grids import grid_color_range

st.title("Attention heads")
st.caption("Algorithmic level: what each head does. Grids are layer (rows) x head (columns) at one recorded step.")
runs = ui.run_choice()


def roles_at(scores: xr.Dataset, entropy: xr.Dataset | None, step: int) -> np.ndarray | None:
    """The workbench's role of each head at `step` (layer, head_index), "" for heads with no named role."""
    try:
        at = {n: scores[n].sel(step=step) for n in ("previous_token", "first_token", "induction")}
        if entropy is not None and "entropy_normalized" in entropy and step in entropy["step"].values:
            at["entropy_normalized"] = entropy["entropy_normalized"].sel(step=step)
        roles = wb.classify_heads(at).values
    except (KeyError, ValueError) as err:  # a score missing from this run
        st.caption(f"Head roles are not shown: {err}")
        return None
    return np.where(roles == "other", "", roles).astype(object)


def grids(run: str, sig: tuple) -> tuple[int, int, int, str] | None:
    """Entropy and score grids at the chosen step; returns (step, layer, head, role) for the detail views."""
    entropy = data.load_group(run, "attn_entropy", sig)
    scores = data.load_group(run, "head_scores", sig)
    source = entropy if entropy is not None else scores
    if not ui.need(source, "attention records (attn_entropy, head_scores)"):
        return None
    steps = [int(s) for s in source["step"].values]
    ui.valid_choice("heads_step", steps)  # after switching to a shorter run
    step = st.select_slider("Step", steps, value=steps[-1], key="heads_step")
    score_names = [v for v in (scores.data_vars if scores is not None else []) if not v.endswith("_by_item")]
    roles = None
    if scores is not None and step in scores["step"].values:
        roles = roles_at(scores, entropy, step)
    stat = st.radio("Colour", (["entropy"] if entropy is not None else []) + score_names, horizontal=True,
                    key="heads_stat")
    ds = entropy if stat == "entropy" else scores
    values = ds[stat]
    units = values.attrs.get("units", "nats" if stat == "entropy" else "probability")
    key = "entropy" if stat == "entropy" else "head_scores"
    # One colour scale for the whole run: probabilities on [0, 1], entropy on [0, ln T], else the run-wide range.
    zmin, zmax, scale = grid_color_range(stat, units, values.values, probe_length(run, sig))
    ui.chart(head_grid(values.sel(step=step).values, f"{stat} at step {step} (cells: roles)", units, (zmin, zmax),
                       roles=roles, scale_name=scale), key, [grid_color_range, head_grid, wb.classify_heads],
             name="grid")
    if st.toggle("Playback over all steps", key="heads_playback"):
        ui.chart(head_grid_playback(values.values, steps, f"{stat} over training", units, (zmin, zmax), scale), key,
                 head_grid_playback, name="playback")
    n_layers, n_heads = values.sizes["layer"], values.sizes["head_index"]
    left, right = st.columns(2)
    ui.valid_choice("heads_layer", list(range(n_layers)))
    ui.valid_choice("heads_head", list(range(n_heads)))
    top_layer, top_head = data.strongest_head(run, sig)  # start on the strongest induction head
    layer = left.number_input("Layer", 0, n_layers - 1, top_layer, key="heads_layer")
    head = right.number_input("Head", 0, n_heads - 1, top_head, key="heads_head")
    table = pd.DataFrame({name: ds_[name].isel(layer=layer, head_index=head).values
                          for ds_, names in ((entropy, ["entropy"]), (scores, score_names)) if ds_ is not None
                          for name in names if name in ds_}, index=steps)
    role = roles[layer, head] if roles is not None else ""
    thresholds = {r: wb.ROLE_THRESHOLDS[r] for r in ("induction", "previous_token")}
    ui.chart(head_trajectories(table, f"Layer {layer} head {head}" + (f" ({role})" if role else ""),
                               events=ui.run_events(run, sig), thresholds=thresholds), "trajectory",
             head_trajectories, name="trajectory")
    return step, layer, head, role


def probe_length(run: str, sig: tuple) -> int | None:
    """T, the most keys a query sees: the probe's sequence length, else the model's context (for ln T)."""
    probe = data.load_group(run, "probe", sig)
    if probe is not None and "pos" in probe.sizes:
        return int(probe.sizes["pos"])
    return data.load_config(run).get("model", {}).get("n_ctx")


def pattern(run: str, sig: tuple, step: int, layer: int, head: int, role: str) -> None:
    """The attention pattern of the chosen head at the chosen step, over the probe tokens."""
    st.subheader("Attention pattern")
    patterns = data.load_pattern(run, step, sig)
    if patterns is None:
        ui.need(None, f"attention pattern recorded at step {step}")
        return
    tokens = data.pattern_tokens(run, sig)
    title = f"Layer {layer} head {head} at step {step}" + (f" - role: {role}" if role else "")
    ui.chart(attention_pattern(patterns[layer, head], tokens, title), "pattern", attention_pattern, name="pattern")


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    picked = grids(run, sig)
    if picked:
        pattern(run, sig, *picked)


if runs:
    ui.body(page)
