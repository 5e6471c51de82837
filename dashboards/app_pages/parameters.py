"""Parameters (implementation level): weight norms, gradient norms, update ratios and spectra per site."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import lines, site_layer, site_step_heatmap

STATS = {"weight_norm": "Weight norm ||W||_F", "grad_norm": "Gradient norm ||dL/dW||_F",
         "update_ratio": "Update ratio ||dW||_F / ||W||_F"}
SPECTRAL = (".sigma_max", ".stable_rank")

st.title("Parameters")
st.caption("Implementation level: what happens in the weights. One row per parameter tensor (site), one column "
           "per recorded step.")
runs = ui.run_choice()


def chosen_sites(variables: dict[str, tuple], suffix: str = "") -> list[str]:
    """(step,) sites in the layers and with the text the user picked (spectral ones only when `suffix`)."""
    step_sites = [s for s, dims in variables.items() if dims == ("step",)]
    plain = [s for s in step_sites if not s.endswith(SPECTRAL)]
    layers = sorted({site_layer(s) for s in plain} - {None})
    chosen = st.session_state.get("param_layers", layers)
    text = st.session_state.get("param_filter", "")
    pool = [s for s in step_sites if s.endswith(suffix)] if suffix else plain
    sites = [s for s in pool if text in s and (site_layer(s) is None or site_layer(s) in chosen)]
    return sorted(sites, key=lambda s: (-1 if site_layer(s) is None else site_layer(s), s))  # model order


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    groups = [g for g in STATS if g in data.available_groups(runs[0])]
    if not ui.need(groups, "parameter records (weight_norm, grad_norm, update_ratio)"):
        return
    group = st.radio("Statistic", groups, format_func=STATS.get, horizontal=True, key="param_group")
    variables = data.group_variables(run, group, sig)
    layers = sorted({site_layer(s) for s in variables} - {None})
    st.multiselect("Layers", layers, default=layers, key="param_layers")
    st.text_input("Only sites containing", "", key="param_filter", help="e.g. attn.qkv, mlp, .bias; empty: every site")
    table = data.load_site_table(run, group, tuple(chosen_sites(variables)), sig)
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
        for stat in SPECTRAL:
            table = data.load_site_table(run, group, tuple(chosen_sites(variables, stat)), sig)
            if ui.need(table, f"{stat[1:]} records"):
                table.index = [s.removesuffix(stat) for s in table.index]
                ui.chart(lines(table.T, stat[1:].replace("_", " "), stat[1:]), "spectral", lines, name=stat[1:])


if runs:
    ui.body(page)
