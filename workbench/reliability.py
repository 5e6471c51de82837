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


def head_table_across_seeds(per_seed: list[xr.DataArray], match: str = "hungarian") -> np.ndarray:
    """An ``(n targets, k seeds)`` table of a per-head metric, ready for :func:`icc`.

    ``per_seed``: one ``(step, layer, head_index)`` trajectory per seed. Heads are not identifiable across
    seeds, so ``match="hungarian"`` matches each seed's heads to seed 0's heads within each layer by their
    whole trajectories (:func:`match_heads`) and uses the final value; ``match="sorted"`` uses the
    permutation-invariant sorted profile (within each layer, heads ranked by final value: target = layer x rank).
    """
    require_length(len(per_seed), 2, "agreement across seeds", "train more seeds (--seeds 3)")
    if match not in ("hungarian", "sorted"):
        raise WorkbenchError(f"match must be 'hungarian' or 'sorted', got {match!r}")
    aligned = xr.align(*[s.transpose("step", "layer", "head_index") for s in per_seed], join="inner")
    ref = aligned[0].values
    cols = []
    for s in aligned:
        v = s.values
        finals = []
        for layer in range(v.shape[1]):
            if match == "sorted":
                finals.append(np.sort(v[-1, layer]))
            else:
                perm = match_heads(ref[:, layer].T, v[:, layer].T)
                finals.append(v[-1, layer, perm])
        cols.append(np.concatenate(finals))
    return np.stack(cols, axis=1)


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
