"""Activations (implementation level): activation statistics per layer, CKA between layers, PCA paths."""

import re

import numpy as np
import streamlit as st

from dashboards import data, ui
from dashboards.figures import cka_matrix, lines, pca_trajectories, similarity_matrix, trajectory_2d
from dashboards.figures.prep import nearest_step

SAMPLE_RE = re.compile(r"^blocks\.(\d+)\.hook_resid_post$")

st.title("Activations")
st.caption("Implementation level: what flows through the residual stream, measured on the fixed probe batch.")
runs = ui.run_choice()


def statistics(run: str, sig: tuple) -> None:
    variables = data.group_variables(run, "act_stats", sig)  # names from metadata; only the chosen statistic is read
    names = [n for n, dims in variables.items() if dims == ("step",)]
    if not ui.need(names, "activation statistics (act_stats)"):
        return
    stats = sorted({n.rsplit(".", 1)[-1] for n in names})
    ui.valid_choice("act_stat", stats)
    stat = st.radio("Statistic", stats, index=stats.index("rms") if "rms" in stats else 0, horizontal=True,
                    key="act_stat")
    chosen = [n for n in names if n.endswith("." + stat)]
    table = data.load_site_table(run, "act_stats", tuple(chosen), sig).T  # (step, site)
    table.columns = [c.removesuffix("." + stat) for c in table.columns]
    ui.chart(lines(table, f"{stat} per site over training", stat, events=ui.run_events(run, sig)), "act_stats",
             [data.load_site_table, lines], name="act_lines")


def representations(run: str, sig: tuple) -> None:
    sample = data.opened(run, "act_sample", sig)
    if not ui.need(sample, "residual-stream samples (act_sample)"):
        return
    sites = sorted((s for s in sample.data_vars if SAMPLE_RE.match(str(s))), key=lambda s: int(SAMPLE_RE.match(s)[1]))
    if not ui.need(sites, "blocks.{l}.hook_resid_post samples"):
        return
    steps = [int(v) for v in sample["step"].values]
    ui.valid_choice("cka_step", steps)
    step = nearest_step(np.array(steps), st.select_slider("Step for CKA", steps, value=steps[-1], key="cka_step"))
    labels = [f"layer {SAMPLE_RE.match(s)[1]}" for s in sites]
    ui.chart(similarity_matrix(data.cka_at_step(run, step, tuple(sites), sig), labels,
                               f"Linear CKA between layers at step {step}"), "cka", [cka_matrix, similarity_matrix],
             name="cka")
    ui.valid_choice("pca_site", sites)
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
