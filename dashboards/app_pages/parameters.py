"""Parameters (implementation level): weight norms, gradient norms, update ratios and spectra per site."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import lines, site_step_heatmap

STATS = {"weight_norm": "Weight norm ||W||_F", "grad_norm": "Gradient norm ||dL/dW||_F",
         "update_ratio": "Update ratio ||dW||_F / ||W||_F"}
VARIABLE = {"weight_norm": "norm", "grad_norm": "norm", "update_ratio": "ratio"}  # the (step, site) quantity
SPECTRAL = ("sigma_max", "stable_rank")
OUTSIDE = -1  # the `layer` coordinate of sites outside the blocks (embeddings, final LayerNorm)

st.title("Parameters")
st.caption("Implementation level: what happens in the weights. One row per parameter tensor (site), one column "
           "per recorded step.")
runs = ui.run_choice()


def layer_label(layer: int) -> str:
    return "outside the blocks" if layer == OUTSIDE else f"layer {layer}"


def chosen_sites(labels) -> list[str]:
    """Sites (in model order) in the layers and with the text the user picked."""
    chosen = st.session_state.get("param_layers", sorted(set(labels["layer"].tolist())))
    text = st.session_state.get("param_filter", "")
    keep = labels["layer"].isin(chosen) & labels["site"].str.contains(text, regex=False)
    return labels.loc[keep, "site"].tolist()


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    groups = [g for g in STATS if g in data.available_groups(runs[0])]
    if not ui.need(groups, "parameter records (weight_norm, grad_norm, update_ratio)"):
        return
    group = st.radio("Statistic", groups, format_func=STATS.get, horizontal=True, key="param_group")
    labels = data.site_labels(run, group, sig)
    layers = sorted(set(labels["layer"].tolist()))
    st.multiselect("Layers", layers, default=layers, format_func=layer_label, key="param_layers")
    st.text_input("Only sites containing", "", key="param_filter", help="e.g. attn.qkv, mlp, .bias; empty: every site")
    table = data.load_site_table(run, group, VARIABLE[group], tuple(chosen_sites(labels)), sig)
    if not ui.need(table, "sites matching the chosen layers and text"):
        return
    log_color = group != "weight_norm"
    ui.chart(site_step_heatmap(table, STATS[group], "1", log_color), group, [data.load_site_table, site_step_heatmap],
             name="heatmap")
    picked = st.multiselect("Sites to draw as lines", list(table.index), default=list(table.index)[:4],
                            key="param_lines")
    if picked:
        ui.chart(lines(table.loc[picked].T, STATS[group], "value", log_y=log_color), group, lines, name="lines")
    if group == "weight_norm":
        st.subheader("Singular values over time")
        if not st.toggle("Show singular-value statistics (reads more records)", key="param_spectral"):
            return
        chosen = set(st.session_state.get("param_layers", layers))
        for stat in SPECTRAL:
            table = data.load_matrix_table(run, stat, sig)
            if ui.need(table, f"{stat} records (the matrices group)"):
                table = table[[int(r.split()[0][1:]) in chosen for r in table.index]]
                if ui.need(table, f"{stat} records in the chosen layers"):
                    ui.chart(lines(table.T, stat.replace("_", " "), stat), "spectral", lines, name=stat)


if runs:
    ui.body(page)
