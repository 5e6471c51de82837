"""Tidy tables of one run or a group of seed runs, for R and SEM software: records, constants, codebook, findings.

An export directory holds (csv or parquet):

- ``<group>`` and ``metrics``: one row per measurement, columns ``run, seed, step, group, statistic, site,
  layer, head, value, unit`` (``statistic`` says what was measured, ``site`` where, ``unit`` in what);
- ``runs``: run-level constants (the resolved config, flattened), one row per run and key;
- ``fits``, ``onsets``, ``icc``, ``split_half``: the findings of the report, as tables;
- ``codebook``: every column of every table (type, unit, meaning) and every statistic (unit, meaning).

CSV follows R's ``read.csv`` conventions: no index column, missing values written ``NA``. An existing
export is never overwritten: a directory that already holds one is refused.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.run import RunData
from workbench.variables import statistic_and_site, statistic_name, unit_of

log = logging.getLogger(__name__)

COLUMNS = ["run", "seed", "step", "group", "statistic", "site", "layer", "head", "value", "unit"]
# Dimensions a trajectory table keeps as columns; a variable with any other (per item, position,
# residual vector, attention pattern) is left out: it is not one quantity's trajectory.
_KEPT = {"step", "site", "matrix", "layer", "head_index"}
FORMATS = ("csv", "parquet")
MEANINGS = {
    "run": ("string", "", "run directory name (seed0, seed1, ... for a --seeds group)"),
    "seed": ("integer", "", "the run's train.seed"),
    "step": ("integer", "optimizer steps", "training step of the record"),
    "group": ("string", "", "store group (docs/store.md) or 'metrics' (metrics.jsonl)"),
    "statistic": ("string", "", "what was measured (see the statistic rows of this codebook)"),
    "site": ("string", "", "where: a parameter or hook name; empty when not about one site"),
    "layer": ("integer", "", "transformer block; NA when not about one layer"),
    "head": ("integer", "", "attention head within the layer; NA when not about one head"),
    "value": ("double", "see unit", "the measurement"),
    "unit": ("string", "", "unit of value"),
    "key": ("string", "", "dotted config key (runs table)"),
}


def _seed(run: RunData) -> int | None:
    seed = (run.config.get("train") or {}).get("seed")
    return int(seed) if seed is not None else None


def tidy_group(run: RunData, group: str) -> pd.DataFrame:
    """One group as a long table in COLUMNS; variables with per-item, per-position or activation dims are left out
    (they are not trajectories of one quantity).

    Schema 2 (the store this workbench reads): ``statistic`` is the variable's name, ``site`` the parameter or
    hook site (or the matrix, W_Q ... W_out, of the ``matrices`` group), ``layer`` the ``layer`` dimension or the
    site's ``layer`` coordinate (NA outside the blocks, where the coordinate is negative). A variable without a
    site dimension whose name carries a site (schema 1 naming) is split by ``statistic_and_site``.
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
        statistic = statistic_name(group, str(name))
        if "site" in da.dims:
            layers = dict(zip(ds["site"].values.tolist(), ds["layer"].values.tolist())) if "layer" in ds.coords else {}
            if "layer" not in df:
                df["layer"] = df["site"].map(layers)
        elif "matrix" in da.dims:
            df = df.rename(columns={"matrix": "site"})
        else:
            statistic, df["site"] = statistic_and_site(group, statistic)
        df["site"] = df["site"].astype(str)
        if "layer" not in df:
            df["layer"] = df["site"].str.extract(r"^blocks\.(\d+)\.", expand=False).astype(float)
        df["layer"] = pd.to_numeric(df["layer"], errors="coerce").where(lambda v: v >= 0)
        if "head_index" not in df:
            df["head_index"] = pd.NA
        frames.append(df.rename(columns={"head_index": "head"}).assign(
            run=run.name, seed=_seed(run), group=group, statistic=statistic,
            unit=unit_of(statistic, da.attrs.get("units"))))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return _typed(pd.concat(frames, ignore_index=True)[COLUMNS])


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for col in ("seed", "layer", "head"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
    df["value"] = df["value"].astype(np.float64)
    return df


def tidy_metrics(run: RunData) -> pd.DataFrame:
    """metrics.jsonl in COLUMNS (group "metrics"); its ``loss`` is named ``train_loss``, as in the store."""
    m = run.metrics
    if m.empty:
        return pd.DataFrame(columns=COLUMNS)
    fields = [c for c in m.columns if c not in ("event", "step") and pd.api.types.is_numeric_dtype(m[c])]
    long = m.melt(id_vars=["step"], value_vars=fields, var_name="field", value_name="value").dropna(subset=["value"])
    stat = long["field"].map(lambda f: statistic_and_site("metrics", f)[0])
    long = long.assign(run=run.name, seed=_seed(run), group="metrics", statistic=stat, site="", layer=pd.NA,
                       head=pd.NA, unit=stat.map(unit_of))
    return _typed(long[COLUMNS].reset_index(drop=True))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v if isinstance(v, (int, float, str, bool)) or v is None else json.dumps(v)
    return out


def run_constants(runs: list[RunData]) -> pd.DataFrame:
    """Run-level constants (the resolved config, flattened to dotted keys): columns run, seed, key, value."""
    rows = [{"run": r.name, "seed": _seed(r), "key": k, "value": "NA" if v is None else str(v)}
            for r in runs for k, v in _flatten(r.config).items()]
    df = pd.DataFrame(rows, columns=["run", "seed", "key", "value"])
    df["seed"] = df["seed"].astype("Int64")
    return df


def export_runs(runs: list[RunData], fmt: str, out_dir: str | Path, method: str = "bootstrap") -> list[Path]:
    """Write every table for `runs` (one run, or the seeds of a group) into `out_dir`; return the paths.

    A ``constructs`` group is written as three tables instead: ``constructs`` (every statistic per
    step, layer and condition), ``constructs_loadings`` and ``constructs_similarity`` (item level).
    Refuses (WorkbenchError, before writing anything) a directory that already holds an export.
    """
    from workbench.export_findings import codebook, findings_tables

    if fmt not in FORMATS:
        raise WorkbenchError(f"format {fmt!r} is not supported; choose one of {', '.join(FORMATS)}")
    if not runs:
        raise WorkbenchError("export needs at least one run directory")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"--out {out} is a file; give a directory to write the tables into")
    if out.exists() and any(out.glob(f"*.{fmt}")) or (out / f"codebook.{fmt}").exists():
        raise WorkbenchError(f"{out} already holds an export ({', '.join(sorted(p.name for p in out.glob('*.' + fmt))[:3])}"
                             " ...); choose a new --out directory or remove the old export first")
    tables: dict[str, pd.DataFrame] = {"metrics": pd.concat([tidy_metrics(r) for r in runs], ignore_index=True)}
    groups = sorted({g for r in runs for g in r.groups})
    for g in groups:
        if g != "constructs":
            tables[g] = pd.concat([tidy_group(r, g) for r in runs if g in r.groups], ignore_index=True)
    with_items = [r for r in runs if "constructs" in r.groups]
    if with_items:  # item-level tables for R (lavaan, psych): loadings and similarities
        from workbench.constructs import tidy_loadings, tidy_similarities, tidy_statistics

        for name, fn in (("constructs", tidy_statistics), ("constructs_loadings", tidy_loadings),
                         ("constructs_similarity", tidy_similarities)):
            tables[name] = pd.concat([fn(r) for r in with_items], ignore_index=True)
    tables["runs"] = run_constants(runs)
    tables.update(findings_tables(runs, method))
    tables["codebook"] = codebook(tables)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        if df.empty:
            continue
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            df.to_csv(path, index=False, na_rep="NA")  # R's read.csv: no row names, NA for missing
        else:
            df.to_parquet(path, index=False)
        written.append(path)
        log.info("wrote %s (%d rows)", path, len(df))
    return written


def export_run(run: RunData, fmt: str, out_dir: str | Path, method: str = "bootstrap") -> list[Path]:
    """:func:`export_runs` for one run."""
    return export_runs([run], fmt, out_dir, method)
