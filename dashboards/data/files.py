"""A run's plain files (metrics.jsonl, samples.jsonl, config.json, checkpoints), read through workbench and cached."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.data.runs import run_data


@st.cache_data(show_spinner=False, max_entries=32)
def load_metrics(run_dir: str, sig: tuple) -> pd.DataFrame:
    """metrics.jsonl as a table (one row per line; `event` is "step" or "eval"); a torn last line is skipped."""
    run = run_data(run_dir)
    return run.metrics if run is not None else pd.DataFrame()


@st.cache_data(show_spinner=False, max_entries=32)
def load_samples(run_dir: str, sig: tuple) -> pd.DataFrame | None:
    """samples.jsonl as a table, one row per completion (workbench.RunData.samples); None without one."""
    run = run_data(run_dir)
    return run.samples if run is not None else None


def load_config(run_dir: str) -> dict:
    """The resolved config (config.json, else the store's root attributes), or {}."""
    run = run_data(run_dir)
    try:
        return run.config if run is not None else {}
    except (OSError, ValueError):
        return {}


def checkpoints(run_dir: str) -> pd.DataFrame:
    """Checkpoints found in the run: step, file, and what their JSON sidecars say (workbench.RunData.checkpoints)."""
    run = run_data(run_dir)
    if run is None:
        return pd.DataFrame()
    rows = [{"step": c.step, "file": str(c.path.relative_to(run.path)), **c.sidecar} for c in run.checkpoints]
    return pd.DataFrame(rows).sort_values("step").reset_index(drop=True) if rows else pd.DataFrame()
