"""What the pages compute from the readers, cached: CKA, PCA paths, one head's trajectories, workbench calls."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboards.data.files import load_config, load_metrics
from dashboards.data.store import load_act_item_means, load_acts_at_step, load_group


@st.cache_data(show_spinner=False, max_entries=64)
def cka_at_step(run_dir: str, step: int, sites: tuple[str, ...], sig: tuple) -> np.ndarray:
    """Linear CKA between the residual-stream samples of `sites` at one step (prep.cka_matrix), cached so that
    moving another widget does not recompute it."""
    from dashboards.figures.prep import cka_matrix

    reps = load_acts_at_step(run_dir, step, sites, sig)
    return cka_matrix([reps[s] for s in sites if s in reps])


@st.cache_data(show_spinner=False, max_entries=32)
def pca_paths(run_dir: str, site: str, sig: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(steps, points, explained): each probe item's path through the top two principal components of `site`
    (prep.pca_trajectories on load_act_item_means), cached; None if the site was not sampled."""
    from dashboards.figures.prep import pca_trajectories

    loaded = load_act_item_means(run_dir, site, sig)
    if loaded is None:
        return None
    steps, per_item = loaded
    points, explained = pca_trajectories(per_item)
    return steps, points, explained


TRAJECTORY_GROUPS = ("loss", "optim", "head_scores", "attn_entropy")


@st.cache_data(show_spinner=False, max_entries=128)
def run_trajectories(run_dir: str, sig: tuple, layer: int = 0, head: int = 0) -> dict[str, pd.Series]:
    """A run's 1-D trajectories (losses, learning rate, one head's scores and entropy), by name."""
    from dashboards.figures.prep import trajectories

    groups = {g: load_group(run_dir, g, sig) for g in TRAJECTORY_GROUPS}
    series = trajectories(groups, layer, head)
    metrics = load_metrics(run_dir, sig)
    if "event" in metrics and "val_loss" in metrics:
        evals = metrics[metrics["event"] == "eval"].dropna(subset=["val_loss"])
        series["metrics/val_loss"] = pd.Series(evals["val_loss"].to_numpy(float), index=evals["step"].astype(int))
    return series


def strongest_head(run_dir: str, sig: tuple, score: str = "induction") -> tuple[int, int]:
    """(layer, head) with the highest `score` at the last record; (0, 0) if the run has no such score."""
    ds = load_group(run_dir, "head_scores", sig)
    if ds is None or score not in ds:
        return 0, 0
    last = np.nan_to_num(ds[score].isel(step=-1).values, nan=-np.inf)
    layer, head = np.unravel_index(int(np.argmax(last)), last.shape)
    return int(layer), int(head)


def head_shape(run_dir: str, sig: tuple) -> tuple[int, int]:
    """(n_layers, n_heads) from the attention groups, else from the config, else (1, 1)."""
    for g in ("head_scores", "attn_entropy"):
        ds = load_group(run_dir, g, sig)
        if ds is not None and "layer" in ds.dims:
            return int(ds.sizes["layer"]), int(ds.sizes["head_index"])
    model = load_config(run_dir).get("model", {})
    return int(model.get("n_layers", 1)), int(model.get("n_heads", 1))


@st.cache_data(show_spinner="Running the analysis...", max_entries=256)
def workbench_call(name: str, *args, **kwargs):
    """`workbench.<name>(*args, **kwargs)`, cached on its inputs (the arrays themselves), so that moving
    an unrelated widget does not refit or re-bootstrap."""
    import workbench

    return getattr(workbench, name)(*args, **kwargs)


@st.cache_data(show_spinner="Finding the induction circuit...", max_entries=32)
def circuit(run_dir: str, sig: tuple):
    """`workbench.induction_circuit` on the run (delta-method onsets: fast) and the circuit's trajectories."""
    from workbench.circuits import circuit_trajectories, induction_circuit, rescaled
    from workbench.run import open_run

    run = open_run(run_dir)
    found = induction_circuit(run, method="delta")
    series = {} if found.induction_head is None else {
        name: rescaled(da).to_series() for name, da in circuit_trajectories(run, found.induction_head, found.feeder).items()}
    return found, series
