"""Reading a run's record store (records.zarr) read-only: groups, site tables, patterns, activation samples."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import xarray as xr

from dashboards.data.runs import STORE, committed, group_meta

log = logging.getLogger(__name__)


def open_group(run_dir: Path, group: str) -> xr.Dataset | None:
    """Lazily open one group, cut to its committed records; None if the group is missing or empty."""
    n = committed(Path(run_dir), group)
    if n is None:
        return None
    try:
        ds = xr.open_zarr(Path(run_dir) / STORE, group=group, consolidated=False, chunks=None,
                          zarr_format=3, mask_and_scale=False)
    except (OSError, ValueError, KeyError) as err:
        log.warning("cannot open group %s of %s: %s", group, run_dir, err)
        return None
    if "step" in ds.dims:
        n = min(n, ds.sizes["step"])
        if n == 0:
            return None
        ds = ds.isel(step=slice(0, n))
    return ds


@st.cache_resource(show_spinner=False, max_entries=64)
def opened(run_dir: str, group: str, sig: tuple) -> xr.Dataset | None:
    """`open_group`, kept open per (run, group, signature): opening a group reads the metadata of every
    variable (0.2-0.5 s for weight_norm's ~300), which the readers below would otherwise repeat on every
    rerun. Shared, not copied (st.cache_resource), so callers only select from it and never modify it."""
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


@st.cache_data(show_spinner=False, max_entries=128)
def load_site_table(run_dir: str, group: str, sites: tuple[str, ...], sig: tuple) -> pd.DataFrame:
    """Only the named (step,) variables of a group, as a table: rows sites, columns steps.

    Groups such as weight_norm hold hundreds of variables; reading only those on screen keeps the
    first render fast."""
    ds = opened(run_dir, group, sig)
    if ds is None:
        return pd.DataFrame()
    sites = [s for s in sites if s in ds]
    if not sites:
        return pd.DataFrame()
    values = np.stack([ds[s].values.astype(float) for s in sites])
    return pd.DataFrame(values, index=sites, columns=ds["step"].values.astype(int))


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
    at = ds.sel(step=step)
    return {s: at[s].values.astype(np.float32).reshape(-1, at[s].shape[-1]) for s in sites if s in at}


@st.cache_data(show_spinner=False, max_entries=32)
def load_act_item_means(run_dir: str, site: str, sig: tuple) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, means): each probe item's residual stream averaged over positions, (step, batch, d_model)."""
    ds = opened(run_dir, "act_sample", sig)
    if ds is None or site not in ds:
        return None
    values = ds[site].values  # one read of the whole variable; the result kept is small
    return ds["step"].values.astype(int), values.astype(np.float32).mean(axis=2)


@st.cache_data(show_spinner=False, max_entries=32)
def pattern_tokens(run_dir: str, sig: tuple) -> list[str]:
    """Text of each token of the sequence the attention patterns were recorded on (their axis labels).

    The token ids are the attn_pattern group's `tokens` attribute (or the probe's `pattern_tokens`),
    decoded one by one with the run's tokenizer.json when it has one; otherwise the probe's per-token
    text, or the ids themselves.
    """
    meta = group_meta(Path(run_dir), "attn_pattern") or {}
    ids = meta.get("attributes", {}).get("tokens") or (group_meta(Path(run_dir), "probe") or {}).get(
        "attributes", {}).get("pattern_tokens")
    if ids:
        return _decode_each(Path(run_dir) / "tokenizer.json", [int(i) for i in ids])
    ds = load_group(run_dir, "probe", sig)
    if ds is not None and "text" in ds and ds["text"].ndim == 2:
        return [str(t) for t in ds["text"].values[0]]
    return []


def _decode_each(tokenizer_json: Path, ids: list[int]) -> list[str]:
    if tokenizer_json.exists():
        try:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(tokenizer_json))
            return [tok.decode([i]) for i in ids]
        except (OSError, ValueError, RuntimeError, ImportError) as err:  # an unreadable tokenizer: show the ids
            log.warning("cannot decode pattern tokens with %s: %s", tokenizer_json, err)
    return [str(i) for i in ids]
