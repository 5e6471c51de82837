"""Parameters (implementation level): weight norms, gradient norms, update ratios and spectra per site."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import lines, site_layer, site_step_heatmap
from dashboards.figures.prep import relative_to_first

STATS = {"weight_norm": "Weight norm ||W||_F", "grad_norm": "Gradient norm ||dL/dW||_F",
         "update_ratio": "Update ratio ||dW||_F / ||W||_F"}
# What the colour bar and the y axis say: the quantity itself (these are dimensionless ratios or norms of
# dimensionless weights, so no unit is written; the store's units attribute for them is "1").
QUANTITY = {"weight_norm": "||W||_F", "grad_norm": "||dL/dW||_F", "update_ratio": "||dW||_F / ||W||_F"}
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
    filters = f"layers {st.session_state.get('param_layers')}, text {st.session_state.get('param_filter', '')!r}"
    if not ui.need_after_filter(table, "parameter sites", bool(variables), filters):
        return
    log_color = group != "weight_norm"
    quantity = QUANTITY[group]
    if group == "weight_norm" and st.toggle("Relative to step 0", key="param_relative",
                                            help="each site divided by its norm at the first record: 1.3 = 30% larger"):
        table, quantity = relative_to_first(table), "||W||_F / ||W_0||_F"
    ui.chart(site_step_heatmap(table, STATS[group], log_color=log_color, quantity=quantity), group,
             [data.load_site_table, site_step_heatmap], name="heatmap")
    if any(s not in table.index for s in st.session_state.get("param_lines", [])):
        del st.session_state["param_lines"]  # sites of another run, or removed by the filter
    picked = st.multiselect("Sites to draw as lines", list(table.index), default=list(table.index)[:4],
                            key="param_lines")
    if picked:
        ui.chart(lines(table.loc[picked].T, STATS[group], quantity, log_y=log_color, events=ui.run_events(run, sig)),
                 group, lines, name="lines")
    if group == "weight_norm":
        st.subheader("Singular values over time")
        if not st.toggle("Show singular-value statistics (reads more records)", key="param_spectral"):
            return
        for stat in SPECTRAL:
            table = data.load_site_table(run, group, tuple(chosen_sites(variables, stat)), sig)
            recorded = any(s.endswith(stat) for s in variables)  # recorded, but the layer/text filter removed it
            if ui.need_after_filter(table, f"{stat[1:]} sites", recorded, filters):
                table.index = [s.removesuffix(stat) for s in table.index]
                ui.chart(lines(table.T, stat[1:].replace("_", " "), stat[1:]), "spectral", lines, name=stat[1:])


if runs:
    ui.body(page)
