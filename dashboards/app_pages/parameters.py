"""Parameters (implementation level): weight norms, gradient norms, update ratios and spectra per site."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import lines, site_layer, site_step_heatmap, site_table, step_sites

STATS = {"weight_norm": "Weight norm ||W||_F", "grad_norm": "Gradient norm ||dL/dW||_F",
         "update_ratio": "Update ratio ||dW||_F / ||W||_F"}

st.title("Parameters")
st.caption("Implementation level: what happens in the weights. One row per parameter tensor (site), one column "
           "per recorded step.")
runs = ui.run_choice()


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    groups = [g for g in STATS if g in data.available_groups(runs[0])]
    if not ui.need(groups, "parameter records (weight_norm, grad_norm, update_ratio)"):
        return
    group = st.radio("Statistic", groups, format_func=STATS.get, horizontal=True, key="param_group")
    ds = data.load_group(run, group, sig)
    all_sites = [s for s in step_sites(ds) if not s.endswith((".sigma_max", ".stable_rank"))]
    layers = sorted({site_layer(s) for s in all_sites} - {None})
    chosen_layers = st.multiselect("Layers", layers, default=layers, key="param_layers")
    kind = st.text_input("Only sites containing", "", key="param_filter",
                         help="e.g. attn.qkv, mlp, .bias; empty shows every site")
    sites = [s for s in step_sites(ds, chosen_layers, kind) if s in all_sites]
    table = site_table(ds, sites)
    if not ui.need(table, f"sites matching {kind!r} in the chosen layers"):
        return
    log_color = group != "weight_norm"
    ui.chart(site_step_heatmap(table, STATS[group], "1", log_color), group, [site_table, site_step_heatmap],
             name="heatmap")
    picked = st.multiselect("Sites to draw as lines", list(table.index), default=list(table.index)[:4],
                            key="param_lines")
    if picked:
        ui.chart(lines(table.loc[picked].T, STATS[group], "value", log_y=log_color), group, lines, name="lines")
    if group == "weight_norm":
        st.subheader("Singular values over time")
        spectral = step_sites(ds, chosen_layers, kind)
        for stat in ("sigma_max", "stable_rank"):
            table = site_table(ds, [s for s in spectral if s.endswith("." + stat)])
            if ui.need(table, f"{stat} records"):
                table.index = [s.removesuffix("." + stat) for s in table.index]
                ui.chart(lines(table.T, stat.replace("_", " "), stat), "spectral", lines, name=stat)


if runs:
    ui.body(page)
