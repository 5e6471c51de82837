"""Reading a run's record store read-only, through workbench: groups, site tables, patterns, activation samples."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr

from dashboards.data.runs import run_data
from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)


def open_group(run_dir: Path, group: str) -> xr.Dataset | None:
    """Lazily open one group (committed records only, via workbench); None if it is missing, empty or damaged."""
    run = run_data(run_dir)
    if run is None or group not in run.groups:
        return None
    try:
        ds = run.group(group)
    except (WorkbenchError, OSError) as err:
        log.warning("cannot open group %s of %s: %s", group, run_dir, err)
        return None
    return None if "step" in ds.dims and ds.sizes["step"] == 0 else ds


@st.cache_resource(show_spinner=False, max_entries=64)
def opened(run_dir: str, group: str, sig: tuple) -> xr.Dataset | None:
    """`open_group`, kept open per (run, group, signature), so the pages' readers do not reread metadata on
    every rerun. Shared, not copied (st.cache_resource), so callers only select from it and never modify it."""
    return open_group(Path(run_dir), group)


@st.cache_data(show_spinner=False, max_entries=64)
def load_group(run_dir: str, group: str, sig: tuple) -> xr.Dataset | None:
    """A whole group in memory (for the small ones: everything except attn_pattern and act_sample)."""
    ds = opened(run_dir, group, sig)
    return None if ds is None else ds.compute()  # compute, not load: load() would fill the shared `opened` in place


@st.cache_data(show_spinner=False, max_entries=64)
def group_variables(run_dir: str, group: str, sig: tuple) -> dict[str, tuple[str, ...]]:
    """Variable names of a group and their dimensions, read from metadata only (no records)."""
    ds = opened(run_dir, group, sig)
    return {} if ds is None else {str(k): tuple(v.dims) for k, v in ds.data_vars.items()}


@st.cache_data(show_spinner=False, max_entries=64)
def site_labels(run_dir: str, group: str, sig: tuple) -> pd.DataFrame:
    """The group's sites with their `layer` and `component` coordinates, in stored (model) order."""
    ds = opened(run_dir, group, sig)
    if ds is None or "site" not in ds.coords:
        return pd.DataFrame(columns=["site", "layer", "component"])
    return pd.DataFrame({c: ds[c].values for c in ("site", "layer", "component") if c in ds.coords})


@st.cache_data(show_spinner=False, max_entries=128)
def load_site_table(run_dir: str, group: str, variable: str, sites: tuple[str, ...], sig: tuple) -> pd.DataFrame:
    """One (step, site) variable at the named sites, as a table: rows sites (in the order given), columns steps."""
    ds = opened(run_dir, group, sig)
    if ds is None or variable not in ds or "site" not in ds[variable].dims:
        return pd.DataFrame()
    known = set(ds["site"].values.tolist())
    sites = [s for s in sites if s in known]
    if not sites:
        return pd.DataFrame()
    values = ds[variable].sel(site=sites).transpose("site", "step").values.astype(float)
    return pd.DataFrame(values, index=sites, columns=ds["step"].values.astype(int))


@st.cache_data(show_spinner=False, max_entries=64)
def load_matrix_table(run_dir: str, variable: str, sig: tuple) -> pd.DataFrame:
    """A (step, matrix, layer) variable of `matrices` (sigma_max, stable_rank) as rows "L{l} W_x", columns steps."""
    ds = opened(run_dir, "matrices", sig)
    if ds is None or variable not in ds:
        return pd.DataFrame()
    da = ds[variable].transpose("layer", "matrix", "step")
    rows = [f"L{int(lyr)} {m}" for lyr in da["layer"].values for m in da["matrix"].values]
    values = da.values.astype(float).reshape(len(rows), -1)
    return pd.DataFrame(values, index=rows, columns=ds["step"].values.astype(int))


@st.cache_data(show_spinner=False, max_entries=256)
def load_pattern(run_dir: str, step: int, sig: tuple) -> np.ndarray | None:
    """Attention patterns at one recorded step, (layer, head_index, query_pos, key_pos), float32."""
    ds = opened(run_dir, "attn_pattern", sig)
    if ds is None or step not in ds["step"].values:
        return None
    return ds["pattern"].sel(step=step).values.astype(np.float32)


@st.cache_data(show_spinner=False, max_entries=64)
def load_acts_at_step(run_dir: str, step: int, sites: tuple[str, ...], sig: tuple) -> dict[str, np.ndarray]:
    """Residual-stream samples of each site at one step, each reshaped to (batch * pos, d_model), float32."""
    ds = opened(run_dir, "act_sample", sig)
    if ds is None:
        return {}
    known = set(ds["site"].values.tolist())
    at = ds["resid"].sel(step=step)
    return {s: at.sel(site=s).values.astype(np.float32).reshape(-1, at.sizes["d_model"]) for s in sites if s in known}


@st.cache_data(show_spinner=False, max_entries=32)
def load_act_item_means(run_dir: str, site: str, sig: tuple) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, means): each probe item's residual stream averaged over positions, (step, batch, d_model)."""
    ds = opened(run_dir, "act_sample", sig)
    if ds is None or site not in set(ds["site"].values.tolist()):
        return None
    values = ds["resid"].sel(site=site).values  # one read of the site; the result kept is small
    return ds["step"].values.astype(int), values.astype(np.float32).mean(axis=2)


@st.cache_data(show_spinner=False, max_entries=32)
def pattern_tokens(run_dir: str, sig: tuple) -> list[str]:
    """Text of each token of the sequence the attention patterns were recorded on (their axis labels).

    The token ids are the attn_pattern group's `tokens` attribute (or the probe's `pattern_tokens`),
    decoded one by one with the run's tokenizer.json when it has one; otherwise the ids themselves.
    """
    ids = None
    for group, key in (("attn_pattern", "tokens"), ("probe", "pattern_tokens")):
        ds = opened(run_dir, group, sig)
        if ds is not None and ds.attrs.get(key):
            ids = [int(i) for i in ds.attrs[key]]
            break
    return _decode_each(Path(run_dir) / "tokenizer.json", ids) if ids else []


def _decode_each(tokenizer_json: Path, ids: list[int]) -> list[str]:
    if tokenizer_json.exists():
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tokenizer_json))
            return [tok.decode([i]) for i in ids]
        except (OSError, ValueError, RuntimeError, ImportError) as err:  # an unreadable tokenizer: show the ids
            log.warning("cannot decode pattern tokens with %s: %s", tokenizer_json, err)
    return [str(i) for i in ids]
