"""Compare runs: the same trajectory from two or more runs (seeds, learning rates) on one set of axes."""

import streamlit as st

from dashboards import data, ui
from dashboards.figures import overlay_runs

st.title("Compare runs")
st.caption("Pick two or more runs in the sidebar; their common trajectories are overlaid.")
runs = ui.run_choice(multiple=True)


def page() -> None:
    sigs = {str(r): data.signature(r) for r in runs}
    n_layers, n_heads = data.head_shape(str(runs[0]), sigs[str(runs[0])])
    ui.comparison_warning(runs)
    ui.valid_choice("cmp_layer", list(range(n_layers)))
    ui.valid_choice("cmp_head", list(range(n_heads)))
    left, right = st.columns(2)
    layer = left.number_input("Layer (for head statistics)", 0, n_layers - 1, 0, key="cmp_layer")
    head = right.number_input("Head", 0, n_heads - 1, 0, key="cmp_head")
    by_run = {r.name if len({p.name for p in runs}) == len(runs) else str(r):
              data.run_trajectories(str(r), sigs[str(r)], layer, head) for r in runs}
    common = sorted(set.intersection(*(set(s) for s in by_run.values())))
    if not ui.need(common, "trajectory shared by the chosen runs"):
        return
    default = [n for n in ("loss/train_loss", "metrics/val_loss") if n in common] or common[:1]
    if any(n not in common for n in st.session_state.get("cmp_series", [])):  # a trajectory the runs no longer share
        del st.session_state["cmp_series"]
    for name in st.multiselect("Trajectories", common, default=default, key="cmp_series"):
        fig = overlay_runs({run: series[name] for run, series in by_run.items()}, name, name.split("/")[-1])
        ui.chart(fig, "compare", overlay_runs, name=f"cmp_{name}", download=True)


if runs:
    if len(runs) < 2:
        st.info("Choose at least two runs in the sidebar to compare them (start the app on a directory holding "
                "several runs: `streamlit run dashboards/app.py -- --runs DIR`).")
    ui.body(page)
