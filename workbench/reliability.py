"""Reliability: spread across seeds, ICCs of per-head metrics across seeds, split-half reliability of probe metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize, stats

from workbench.errors import WorkbenchError, require_length


def seed_bands(values_by_seed, level: float = 0.95) -> pd.DataFrame:
    """Mean of a trajectory across seeds with a t confidence band, per step.

    ``values_by_seed``: a list of 1-D DataArrays with a ``step`` coordinate (aligned on the steps all
    seeds recorded) or a ``(seed, step)`` array. Band: ``mean +- t_{(1+level)/2, k-1} * sd / sqrt(k)``
    for k seeds (seeds as independent replications). Columns: step, mean, sd, ci_low, ci_high, n_seeds.
    """
    if isinstance(values_by_seed, (list, tuple)) and values_by_seed and isinstance(values_by_seed[0], xr.DataArray):
        aligned = xr.align(*values_by_seed, join="inner")
        steps = aligned[0]["step"].values
        M = np.stack([a.values.astype(float) for a in aligned])
    else:
        M = np.asarray(values_by_seed, dtype=float)
        steps = np.arange(M.shape[1])
    k = M.shape[0]
    require_length(k, 2, "a band across seeds", "train more seeds (python -m seedling.train ... --seeds 3)")
    mean, sd = M.mean(0), M.std(0, ddof=1)
    half = stats.t.ppf((1 + level) / 2, k - 1) * sd / np.sqrt(k)
    return pd.DataFrame({"step": steps, "mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half,
                         "n_seeds": k})


def icc(table, level: float = 0.95) -> pd.DataFrame:
    """ICC(2,1) (absolute agreement) and ICC(3,1) (consistency) of an ``(n targets, k raters)`` table.

    Two-way ANOVA mean squares: rows (targets) ``MSR``, columns (raters, here seeds) ``MSC``, error ``MSE``.
    ``ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)`` (raters random, absolute agreement);
    ``ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE)`` (raters fixed, consistency). Confidence intervals:
    exact F-based for ICC(3,1); for ICC(2,1) the approximate F with Satterthwaite degrees of freedom
    of McGraw & Wong (1996, Table 7; Shrout & Fleiss 1979). Units: dimensionless, at most 1.
    Columns: type, icc, F, df1, df2, p (H0: ICC = 0), ci_low, ci_high, n, k.
    """
    Y = np.asarray(table, dtype=float)
    if Y.ndim != 2:
        raise WorkbenchError(f"ICC needs an (n targets, k raters) table, got shape {Y.shape}")
    n, k = Y.shape
    require_length(n, 3, "an ICC (targets)")
    require_length(k, 2, "an ICC (raters/seeds)", "train more seeds (--seeds 3)")
    if np.isnan(Y).any():
        raise WorkbenchError("ICC table has missing values; drop targets not measured by every rater")
    g = Y.mean()
    ssr = k * ((Y.mean(1) - g) ** 2).sum()
    ssc = n * ((Y.mean(0) - g) ** 2).sum()
    sse = ((Y - g) ** 2).sum() - ssr - ssc
    msr, msc, mse = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    a = (1 - level) / 2
    df1, df2 = n - 1, (n - 1) * (k - 1)
    f = msr / mse if mse > 0 else np.inf
    p = float(stats.f.sf(f, df1, df2))
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    fl, fu = f / stats.f.ppf(1 - a, df1, df2), f * stats.f.ppf(1 - a, df2, df1)
    ci3 = ((fl - 1) / (fl + k - 1), (fu - 1) / (fu + k - 1))
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    A = k * icc2 / (n * (1 - icc2))
    B = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    v = (A * msc + B * mse) ** 2 / ((A * msc) ** 2 / (k - 1) + (B * mse) ** 2 / df2)
    fl2, fu2 = stats.f.ppf(1 - a, df1, v), stats.f.ppf(1 - a, v, df1)
    lo2 = n * (msr - fl2 * mse) / (fl2 * (k * msc + (k * n - k - n) * mse) + n * msr)
    hi2 = n * (fu2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fu2 * msr)
    return pd.DataFrame([
        {"type": "ICC(2,1) absolute agreement", "icc": icc2, "F": f, "df1": df1, "df2": df2, "p": p,
         "ci_low": lo2, "ci_high": hi2, "n": n, "k": k},
        {"type": "ICC(3,1) consistency", "icc": icc3, "F": f, "df1": df1, "df2": df2, "p": p,
         "ci_low": ci3[0], "ci_high": ci3[1], "n": n, "k": k},
    ])


def match_heads(reference, other) -> np.ndarray:
    """Permutation ``perm`` so that ``other[perm[i]]`` is the head of ``other`` matched to ``reference[i]``.

    ``reference`` and ``other`` are ``(n_heads, features)`` (e.g. each head's trajectory); matching minimises
    the total Euclidean distance (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``; Kuhn 1955).
    """
    R, Q = np.asarray(reference, dtype=float), np.asarray(other, dtype=float)
    if R.shape != Q.shape:
        raise WorkbenchError(f"head matching needs equal shapes, got {R.shape} and {Q.shape}")
    cost = np.linalg.norm(R[:, None, :] - Q[None, :, :], axis=-1)
    rows, cols = optimize.linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def matched_head_table(per_seed: list[xr.DataArray], match: str = "hungarian",
                       score_per_seed: list[xr.DataArray] | None = None) -> pd.DataFrame:
    """Per-head scores of k seeds side by side, heads matched across seeds on data *other* than the scores.

    ``per_seed``: one ``(step, layer, head_index)`` trajectory per seed. Heads are not identifiable across
    seeds. ``match="hungarian"`` matches each seed's heads to seed 0's within each layer (:func:`match_heads`);
    matching and scoring the same numbers makes agreement look better than it is (the matching picks the
    permutation that agrees best), so the two use disjoint data (cross-fitting):

    - by default the match uses the records of the parity opposite to the last record (every other record,
      the last one left out) and the score is the last record;
    - with ``score_per_seed`` (one ``(layer, head_index)`` array per seed, e.g. the final score on the even
      probe items while ``per_seed`` holds the odd items' trajectories) the match uses every record of
      ``per_seed`` and the score is ``score_per_seed``.

    ``match="sorted"`` needs no matching: within each layer the heads are ranked by score (target = layer x
    rank, a permutation-invariant profile). Columns: ``layer``, ``target`` (seed 0's head, or the rank),
    ``seed0`` .. ``seed{k-1}``; ``attrs["matched_on"]`` says what was matched and what was scored.
    """
    require_length(len(per_seed), 2, "agreement across seeds", "train more seeds (--seeds 3)")
    if match not in ("hungarian", "sorted"):
        raise WorkbenchError(f"match must be 'hungarian' or 'sorted', got {match!r}")
    aligned = xr.align(*[s.transpose("step", "layer", "head_index") for s in per_seed], join="inner")
    n = aligned[0].sizes["step"]
    if score_per_seed is None:
        require_length(n, 3, "cross-fitted head matching (records)", "record more often")
        match_idx = np.arange((n - 2) % 2, n - 1, 2)  # the other parity than the last record
        scores = [a.values[-1] for a in aligned]
        matched_on = (f"heads matched within each layer on {len(match_idx)} of {n} records (every other record, "
                      "the last one left out); scored on the last record")
    else:
        match_idx = np.arange(n)
        scores = [np.asarray(sc.transpose("layer", "head_index").values if isinstance(sc, xr.DataArray) else sc,
                             dtype=float) for sc in score_per_seed]
        matched_on = "heads matched within each layer on one half of the probe items; scored on the other half"
    if match == "sorted":
        matched_on = "no matching: within each layer heads ranked by their score (sorted profile)"
    ref = aligned[0].values[match_idx]
    n_layers, n_heads = ref.shape[1], ref.shape[2]
    cols = []
    for a, sc in zip(aligned, scores):
        v = a.values[match_idx]
        per_layer = []
        for layer in range(n_layers):
            if match == "sorted":
                per_layer.append(np.sort(sc[layer]))
            else:
                per_layer.append(sc[layer, match_heads(ref[:, layer].T, v[:, layer].T)])
        cols.append(np.concatenate(per_layer))
    layers = aligned[0]["layer"].values if "layer" in aligned[0].coords else np.arange(n_layers)
    out = pd.DataFrame({"layer": np.repeat(layers, n_heads), "target": np.tile(np.arange(n_heads), n_layers)})
    for i, c in enumerate(cols):
        out[f"seed{i}"] = c
    out.attrs["matched_on"] = matched_on
    return out


def head_table_across_seeds(per_seed: list[xr.DataArray], match: str = "hungarian") -> np.ndarray:
    """The ``(n targets, k seeds)`` array of :func:`matched_head_table`, ready for :func:`icc`."""
    t = matched_head_table(per_seed, match)
    return t[[c for c in t.columns if c.startswith("seed")]].to_numpy()


def icc_across_seeds(per_seed: list[xr.DataArray], match: str = "hungarian",
                     score_per_seed: list[xr.DataArray] | None = None) -> pd.DataFrame:
    """ICCs of a per-head score across seeds, over all heads and within each layer.

    Over all heads, differences *between layers* (layer 1 heads score high, layer 0 heads low in every
    seed) make up most of the variance between targets and lift the ICC; the within-layer ICCs ask
    whether the seeds agree on which heads *of one layer* score high. Heads are matched as in
    :func:`matched_head_table`. Columns: ``scope`` ("all layers" or "layer L"), the columns of :func:`icc`,
    and ``matched_on``. A layer with fewer than 3 heads, or with no variation, is left out.
    """
    t = matched_head_table(per_seed, match, score_per_seed)
    seeds = [c for c in t.columns if c.startswith("seed")]
    frames = [icc(t[seeds].to_numpy()).assign(scope="all layers")]
    for layer, g in t.groupby("layer"):
        if len(g) < 3 or not np.isfinite(g[seeds].to_numpy()).all() or g[seeds].to_numpy().std() == 0:
            continue
        frames.append(icc(g[seeds].to_numpy()).assign(scope=f"layer {layer}"))
    out = pd.concat(frames, ignore_index=True)
    out["matched_on"] = t.attrs["matched_on"]
    return out[["scope"] + [c for c in out.columns if c != "scope"]]


def split_half(by_item: xr.DataArray, item_dim: str = "batch") -> pd.DataFrame:
    """Split-half reliability of a probe-based per-head metric at each record.

    The probe items are split into odd and even halves; the metric is averaged within each half for every
    target (head), the two halves are correlated across targets (Pearson r), and the full-length
    reliability follows from Spearman-Brown: ``r_full = 2 r / (1 + r)`` (Spearman 1910; Brown 1910).
    ``by_item`` is e.g. ``induction_by_item (step, batch, layer, head_index)``. Columns: step, r_half,
    r_full, n_targets, n_items.
    """
    if item_dim not in by_item.dims:
        raise WorkbenchError(f"split-half needs a per-item metric with a {item_dim!r} dim; got {by_item.dims}")
    require_length(by_item.sizes[item_dim], 2, "split-half reliability (probe items)", "record a larger probe batch")
    a = by_item.isel({item_dim: slice(0, None, 2)}).mean(item_dim)
    b = by_item.isel({item_dim: slice(1, None, 2)}).mean(item_dim)
    steps = by_item["step"].values if "step" in by_item.dims else [None]
    rows = []
    for i, st in enumerate(steps):
        x = (a.isel(step=i) if st is not None else a).values.ravel()
        y = (b.isel(step=i) if st is not None else b).values.ravel()
        r = float(np.corrcoef(x, y)[0, 1]) if x.std() > 0 and y.std() > 0 else float("nan")
        rows.append({"step": st, "r_half": r, "r_full": 2 * r / (1 + r) if r == r else r, "n_targets": len(x),
                     "n_items": by_item.sizes[item_dim]})
    return pd.DataFrame(rows)
