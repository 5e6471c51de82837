"""Computational level: when do a run's item representations acquire their construct structure (the `constructs` group)?

Reads the `constructs` group (recorders/groups/constructs.py) and turns it into trajectories with
the negative control's band, onsets with confidence intervals, the first step at which the planted
structure is recovered, reliability across seeds, and tidy tables for R (lavaan, psych).
Formulas: docs/analyses.md, "Psychometric probes".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from workbench.errors import MissingMetricError, WorkbenchError
from workbench.heads import onset_with_ci
from workbench.reliability import icc
from workbench.run import RunData

__all__ = ["STATISTICS", "construct_onsets", "construct_trajectories", "item_recovery", "label", "labelled",
           "recovered_step", "recovery_icc", "tidy_loadings", "tidy_similarities", "tidy_statistics", "trajectories"]

GROUP = "constructs"
# Per (layer, condition) statistics of the group, with what chance reads as.
STATISTICS = ("recovery", "recovery_spearman", "hit_rate", "domains_recovered", "domains_recovered_target", "congruence",
              "rmsr")


def labelled(run: RunData) -> xr.Dataset:
    """The `constructs` group of a run, labelled (see `label`)."""
    _require(run)
    return label(run.group(GROUP))


def label(ds: xr.Dataset) -> xr.Dataset:
    """A `constructs` Dataset with item, item_b, construct, factor and condition labelled by their names.

    The recorder writes these coordinates (schema 2); a Dataset without them (built by hand, or
    from a store written before) is labelled from the group attributes.
    """
    a = ds.attrs
    labels = {"item": a.get("item_ids"), "item_b": a.get("item_ids"), "construct": a.get("constructs"),
              "factor": a.get("constructs"), "factor_b": a.get("constructs"), "condition": a.get("conditions")}
    coords = {d: list(v) for d, v in labels.items() if v is not None and d in ds.dims and d not in ds.coords}
    ds = ds.assign_coords(coords)
    if "item" in ds.dims and "item_construct" not in ds.coords and a.get("item_constructs"):
        ds = ds.assign_coords(item_construct=("item", list(a["item_constructs"])), item_key=("item", list(a["item_keys"])))
    return ds


def _layer(ds: xr.Dataset, layer: int | None) -> int:
    n = ds.sizes["layer"]
    if layer is None:
        return n - 1
    if not -n <= layer < n:
        raise WorkbenchError(f"layer {layer} is not recorded; the constructs group has layers 0..{n - 1}")
    return layer % n


def construct_trajectories(run: RunData, layer: int | None = None) -> pd.DataFrame:
    """Per step and statistic: the value on the real labels and the negative controls' band, at one layer (default: last).

    Columns: step, layer, statistic, value, null_low, null_median, null_high (min, median, max over
    the shuffled-label controls), scrambled (the scrambled-dimensions control). The band is the
    pipeline's chance level: the target rotation fits any labels somewhat, so read a value against
    its band, not against zero.
    """
    return trajectories(labelled(run), layer)


def trajectories(ds: xr.Dataset, layer: int | None = None) -> pd.DataFrame:
    """`construct_trajectories` of a labelled `constructs` Dataset (what the dashboard calls)."""
    layer = _layer(ds, layer)
    shuffled = [c for c in ds["condition"].values if str(c).startswith("shuffled")]
    rows = []
    for stat in [s for s in STATISTICS if s in ds]:  # a store of an older recorder may lack the newer ones
        da = ds[stat].isel(layer=layer)
        null = da.sel(condition=shuffled)
        rows.append(pd.DataFrame({
            "step": ds["step"].values, "layer": layer, "statistic": stat, "value": da.sel(condition="items").values,
            "null_low": null.min("condition").values, "null_median": null.median("condition").values,
            "null_high": null.max("condition").values, "scrambled": da.sel(condition="scrambled dimensions").values}))
    return pd.concat(rows, ignore_index=True)


def recovered_step(traj: pd.DataFrame, n_domains: int, congruence: float = 0.9) -> int | None:
    """The first recorded step from which on every record has all `n_domains` recovered and mean congruence >= `congruence`."""
    wide = traj.pivot(index="step", columns="statistic", values="value").sort_index()
    ok = (wide["domains_recovered"] >= n_domains) & (wide["congruence"] >= congruence)
    if not ok.iloc[-1]:
        return None
    tail = ok[::-1].cumprod()[::-1].astype(bool)  # True from the last failure on
    return int(tail.idxmax())


def construct_onsets(run: RunData, layer: int | None = None, method: str = "bootstrap",
                     statistics=("recovery", "congruence", "hit_rate")) -> pd.DataFrame:
    """Onset (logistic t_mid - 2w) and midpoint with CIs of each statistic's rise on the real labels.

    Uses `workbench.heads.onset_with_ci` (its docstring gives the model and the CI methods). A
    statistic that does not rise leaves NaNs and says why in `note`. Columns: statistic, onset,
    onset_ci_low, onset_ci_high, midpoint, midpoint_ci_low, midpoint_ci_high, lo, hi, note.
    """
    traj = construct_trajectories(run, layer)
    rows = []
    for stat in statistics:
        t = traj[traj["statistic"] == stat]
        row = {"statistic": stat}
        try:
            est = onset_with_ci(t["step"].values, t["value"].values, method=method)
            row |= {"onset": est.onset, "onset_ci_low": est.onset_ci[0], "onset_ci_high": est.onset_ci[1],
                    "midpoint": est.midpoint, "midpoint_ci_low": est.midpoint_ci[0],
                    "midpoint_ci_high": est.midpoint_ci[1], "lo": est.lo, "hi": est.hi, "note": ""}
        except WorkbenchError as e:
            row["note"] = str(e)
        rows.append(row)
    return pd.DataFrame(rows)


def item_recovery(S, target) -> np.ndarray:
    """Per item i: Pearson r between row i of S and row i of the target, diagonal left out. Units: 1.

    How well each item's neighbourhood matches its keyed construct; the targets of `recovery_icc`.
    """
    S, T = np.asarray(S, dtype=np.float64), np.asarray(target, dtype=np.float64)
    n = len(S)
    off = ~np.eye(n, dtype=bool)
    return np.array([np.corrcoef(S[i, off[i]], T[i, off[i]])[0, 1] for i in range(n)])


def recovery_icc(runs: list[RunData], layer: int | None = None) -> pd.DataFrame:
    """ICC(2,1) and ICC(3,1) across seeds of the final per-item recovery (targets: items; raters: seeds).

    Do seeds agree on which items the model represents in their construct? See `workbench.reliability.icc`.
    """
    if len(runs) < 2:
        raise WorkbenchError("an ICC across seeds needs at least 2 runs; train more seeds (python -m seedling.train ... --seeds 3)")
    cols = []
    for run in runs:
        ds = labelled(run)
        S = ds["centred_cosine"].isel(step=-1, layer=_layer(ds, layer)).values
        c, k = np.array(ds.attrs["item_constructs"]), np.array(ds.attrs["item_keys"], dtype=float)
        cols.append(item_recovery(S, (c[:, None] == c[None, :]) * np.outer(k, k)))
    return icc(np.stack(cols, axis=1))


def _require(run: RunData) -> None:
    if GROUP not in run.groups:
        raise MissingMetricError(f"{run.path} has no constructs group; record it with --record \"what=constructs items=NAME\" "
                                 "or replay the checkpoints (python -m recorders.replay RUN --what constructs)")


def tidy_loadings(run: RunData) -> pd.DataFrame:
    """Rotated loadings, long: run, step, layer, item, construct, key, factor, loading (factor f aimed at construct f)."""
    ds = labelled(run)
    df = ds["loading"].to_dataframe(name="loading").reset_index()
    df = df.rename(columns={"item_construct": "construct", "item_key": "key"})
    return df.assign(run=run.name)[["run", "step", "layer", "item", "construct", "key", "factor", "loading"]]


def tidy_similarities(run: RunData) -> pd.DataFrame:
    """Item x item similarities, long (upper triangle): run, step, layer, item, item_b, cosine, centred_cosine."""
    ds = labelled(run)
    n = ds.sizes["item"]
    iu = np.triu_indices(n, k=1)
    ids = np.asarray(ds["item"].values)
    frames = []
    for s in range(ds.sizes["step"]):
        for layer in range(ds.sizes["layer"]):
            raw = ds["cosine"].values[s, layer][iu]
            cen = ds["centred_cosine"].values[s, layer][iu]
            frames.append(pd.DataFrame({"run": run.name, "step": int(ds["step"].values[s]), "layer": layer,
                                        "item": ids[iu[0]], "item_b": ids[iu[1]], "cosine": raw, "centred_cosine": cen}))
    return pd.concat(frames, ignore_index=True)


def tidy_statistics(run: RunData) -> pd.DataFrame:
    """Every per-(layer, condition) statistic, long: run, step, layer, condition, statistic, value."""
    ds = labelled(run)
    frames = [ds[s].to_dataframe(name="value").reset_index().assign(statistic=s) for s in STATISTICS if s in ds]
    df = pd.concat(frames, ignore_index=True).assign(run=run.name)
    return df[["run", "step", "layer", "condition", "statistic", "value"]]
