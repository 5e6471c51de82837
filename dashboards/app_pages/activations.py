"""Activations (implementation level): activation statistics per layer, CKA between layers, PCA paths."""

import numpy as np
import streamlit as st

from dashboards import data, ui
from dashboards.figures import cka_matrix, lines, pca_trajectories, similarity_matrix, trajectory_2d
from dashboards.figures.prep import nearest_step

st.title("Activations")
st.caption("Implementation level: what flows through the residual stream, measured on the fixed probe batch.")
runs = ui.run_choice()


def statistics(run: str, sig: tuple) -> None:
    variables = data.group_variables(run, "act_stats", sig)  # names from metadata; only the chosen statistic is read
    stats = sorted(n for n, dims in variables.items() if dims == ("step", "site"))
    if not ui.need(stats, "activation statistics (act_stats)"):
        return
    stat = st.radio("Statistic", stats, index=stats.index("rms") if "rms" in stats else 0, horizontal=True,
                    key="act_stat")
    sites = data.site_labels(run, "act_stats", sig)["site"].tolist()
    table = data.load_site_table(run, "act_stats", stat, tuple(sites), sig).T.dropna(axis=1, how="all")  # (step, site)
    ui.chart(lines(table, f"{stat} per site over training", stat), "act_stats", [data.load_site_table, lines],
             name="act_lines")


def representations(run: str, sig: tuple) -> None:
    labels = data.site_labels(run, "act_sample", sig)
    resid = labels[labels["component"] == "hook_resid_post"] if "component" in labels else labels.iloc[0:0]
    if not ui.need(resid, "residual-stream samples leaving each layer (act_sample)"):
        return
    sample = data.opened(run, "act_sample", sig)
    sites = resid["site"].tolist()
    steps = [int(v) for v in sample["step"].values]
    step = nearest_step(np.array(steps), st.select_slider("Step for CKA", steps, value=steps[-1], key="cka_step"))
    labels_ = [f"layer {int(lyr)}" for lyr in resid["layer"]]
    ui.chart(similarity_matrix(data.cka_at_step(run, step, tuple(sites), sig), labels_,
                               f"Linear CKA between layers at step {step}"), "cka", [cka_matrix, similarity_matrix],
             name="cka")
    site = st.selectbox("Layer for PCA paths", sites, index=len(sites) - 1, key="pca_site")
    item_steps, points, explained = data.pca_paths(run, site, sig)  # points: (item, step, 2)
    names = [f"probe item {i}" for i in range(points.shape[0])]
    ui.chart(trajectory_2d(points, item_steps, names, f"PCA of {site} over training", explained), "pca",
             [pca_trajectories, trajectory_2d], name="pca")


def page() -> None:
    run, sig = str(runs[0]), data.signature(runs[0])
    statistics(run, sig)
    st.subheader("Representations")
    representations(run, sig)


if runs:
    ui.body(page)
