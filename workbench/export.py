"""Tidy long-format tables of a run's records (run, step, group, site, layer, head, value) for R and SEM software."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.run import RunData

log = logging.getLogger(__name__)

COLUMNS = ["run", "step", "group", "site", "layer", "head", "value"]
_LAYER_IN_NAME = re.compile(r"blocks\.(\d+)\.")
FORMATS = ("csv", "parquet")


def tidy_group(run: RunData, group: str) -> pd.DataFrame:
    """One group as a long table: one row per (step, site, layer, head); layer/head empty where not applicable.

    Variables with dims beyond ``step``, ``layer``, ``head_index`` (per probe item, per position,
    activation samples, attention patterns) are left out: they are not trajectories of one quantity.
    ``layer`` comes from the ``layer`` dim or from a ``blocks.{l}.`` site name.
    """
    ds = run.group(group)
    if "step" not in ds.dims:
        return pd.DataFrame(columns=COLUMNS)
    frames = []
    for site, da in ds.data_vars.items():
        extra = set(da.dims) - {"step", "layer", "head_index"}
        if extra:
            log.info("export: leaving out %s/%s (dims %s are not trajectory dims)", group, site, sorted(extra))
            continue
        df = da.to_dataframe(name="value").reset_index()
        if "layer" not in df:
            m = _LAYER_IN_NAME.search(str(site))
            df["layer"] = int(m.group(1)) if m else pd.NA
        if "head_index" not in df:
            df["head_index"] = pd.NA
        frames.append(df.rename(columns={"head_index": "head"}).assign(run=run.name, group=group, site=str(site)))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)[COLUMNS]
    out["layer"] = out["layer"].astype("Int64")
    out["head"] = out["head"].astype("Int64")
    out["value"] = out["value"].astype(np.float64)
    return out


def tidy_metrics(run: RunData) -> pd.DataFrame:
    """metrics.jsonl as a long table in the same columns (group "metrics", site = the field name)."""
    m = run.metrics
    if m.empty:
        return pd.DataFrame(columns=COLUMNS)
    fields = [c for c in m.columns if c not in ("event", "step") and pd.api.types.is_numeric_dtype(m[c])]
    long = m.melt(id_vars=["step"], value_vars=fields, var_name="site", value_name="value").dropna(subset=["value"])
    long = long.assign(run=run.name, group="metrics", layer=pd.NA, head=pd.NA)[COLUMNS]
    long["layer"] = long["layer"].astype("Int64")
    long["head"] = long["head"].astype("Int64")
    return long


def export_run(run: RunData, fmt: str, out_dir: str | Path) -> list[Path]:
    """Write ``<group>.csv`` (or ``.parquet``) per recorded group plus ``metrics`` into ``out_dir``; return the paths.

    A ``constructs`` group is written as three tables instead: ``constructs`` (every statistic per
    step, layer and condition), ``constructs_loadings`` and ``constructs_similarity`` (item level).
    """
    if fmt not in FORMATS:
        raise WorkbenchError(f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = {"metrics": tidy_metrics(run)}
    for g in run.groups:
        tables[g] = tidy_group(run, g)
    if "constructs" in run.groups:  # item-level tables for R (lavaan, psych): loadings and similarities
        from workbench.constructs import tidy_loadings, tidy_similarities, tidy_statistics

        tables |= {"constructs": tidy_statistics(run), "constructs_loadings": tidy_loadings(run),
                   "constructs_similarity": tidy_similarities(run)}
    written = []
    for name, df in tables.items():
        if df.empty:
            continue
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False)
        else:
            df.to_parquet(path, index=False)
        written.append(path)
        log.info("wrote %s (%d rows)", path, len(df))
    return written
