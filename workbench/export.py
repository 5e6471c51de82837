"""Tidy long-format tables of a run's records (run, step, group, statistic, unit, site, layer, head, value) for R and SEM software."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.run import RunData

log = logging.getLogger(__name__)

COLUMNS = ["run", "step", "group", "statistic", "unit", "site", "layer", "head", "value"]
# Dimensions a trajectory table keeps as columns; a variable with any other (per item, position,
# residual vector, attention pattern) is left out: it is not one quantity's trajectory.
_KEPT = {"step", "site", "matrix", "layer", "head_index"}
FORMATS = ("csv", "parquet")


def tidy_group(run: RunData, group: str) -> pd.DataFrame:
    """One group as a long table: one row per (step, statistic, site, layer, head); empty cells where not applicable.

    `statistic` is the variable's name and `unit` its units; `site` is the parameter or hook site
    (or the matrix, W_Q ... W_out, of the `matrices` group); `layer` comes from the `layer`
    dimension or the site's `layer` coordinate (empty outside the blocks).
    """
    ds = run.group(group)
    if "step" not in ds.dims:
        return pd.DataFrame(columns=COLUMNS)
    frames = []
    for name, da in ds.data_vars.items():
        extra = set(da.dims) - _KEPT
        if extra:
            log.info("export: leaving out %s/%s (dims %s are not trajectory dims)", group, name, sorted(extra))
            continue
        df = da.reset_coords(drop=True).to_dataframe(name="value").reset_index()
        if "site" in da.dims:
            layers = dict(zip(ds["site"].values.tolist(), ds["layer"].values.tolist())) if "layer" in ds.coords else {}
            df["layer"] = df["site"].map(layers).where(lambda v: v >= 0)
        elif "matrix" in da.dims:
            df = df.rename(columns={"matrix": "site"})
        df["site"] = df["site"].astype(str) if "site" in df else ""
        for col in ("layer", "head_index"):
            if col not in df:
                df[col] = pd.NA
        frames.append(df.rename(columns={"head_index": "head"}).assign(
            run=run.name, group=group, statistic=str(name), unit=str(da.attrs.get("units", ""))))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat(frames, ignore_index=True)[COLUMNS]
    out["layer"] = out["layer"].astype("Int64")
    out["head"] = out["head"].astype("Int64")
    out["value"] = out["value"].astype(np.float64)
    return out


def tidy_metrics(run: RunData) -> pd.DataFrame:
    """metrics.jsonl as a long table in the same columns (group "metrics", statistic = the field name)."""
    m = run.metrics
    if m.empty:
        return pd.DataFrame(columns=COLUMNS)
    fields = [c for c in m.columns if c not in ("event", "step") and pd.api.types.is_numeric_dtype(m[c])]
    long = m.melt(id_vars=["step"], value_vars=fields, var_name="statistic", value_name="value").dropna(subset=["value"])
    units = {"loss": "nats", "val_loss": "nats", "tokens": "tokens", "elapsed": "s"}
    long = long.assign(run=run.name, group="metrics", site="", layer=pd.NA, head=pd.NA,
                       unit=long["statistic"].map(units).fillna("1"))[COLUMNS]
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
        if g != "constructs":
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
