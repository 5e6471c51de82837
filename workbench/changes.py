"""What changed over a run: start vs end of the loss (with CIs), the heads that moved most, the layers that changed.

Used to lead `workbench summary`: a run where no head takes a role still changed, and a newcomer should
read first what did change (the loss, which heads, which layers) before the verdicts that did not fire.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from workbench.errors import WorkbenchError

_LAYER_IN_NAME = re.compile(r"^blocks\.(\d+)\.")
_DERIVED = (".sigma_max", ".stable_rank")  # schema-1 spectral variables share weight_norm with the norms
SCORES = ("induction", "previous_token", "first_token")


def window_mean_ci(y, n_blocks: int = 10, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of a window of consecutive values with a batch-means t CI: ``(mean, lo, hi, n)``.

    The window is cut into ``n_blocks`` equal consecutive blocks; the CI is ``mean +- t_{(1+level)/2, b-1}
    sd(block means) / sqrt(b)``. Block means are close to independent even when neighbouring values are
    autocorrelated, which a CI over the raw values would ignore (Flegal & Jones 2010). Units: those of y.

    >>> m, lo, hi, n = window_mean_ci(np.r_[np.full(10, 1.0), np.full(10, 3.0)], n_blocks=2)
    >>> m, n, round(hi - lo, 1)
    (2.0, 20, 25.4)
    """
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    b = min(n_blocks, len(y))
    if b < 2:
        raise WorkbenchError(f"a window mean with a CI needs at least 2 values, got {len(y)}")
    means = np.array([c.mean() for c in np.array_split(y, b)])
    half = float(stats.t.ppf((1 + level) / 2, b - 1)) * means.std(ddof=1) / np.sqrt(b)
    return float(y.mean()), float(y.mean() - half), float(y.mean() + half), len(y)


def loss_change(steps, loss, frac: float = 0.1, min_window: int = 20) -> dict:
    """Mean loss (nats) and perplexity over the first and last ``frac`` of the recorded steps, with batch-means CIs.

    Returns ``{"first": (mean, lo, hi, n), "last": ..., "first_steps": (a, b), "last_steps": (a, b)}``; the
    perplexity is ``exp`` of each (a monotone transform, so the CI maps too).
    """
    t, y = np.asarray(steps, dtype=float), np.asarray(loss, dtype=float)
    ok = np.isfinite(y)
    t, y = t[ok], y[ok]
    k = max(min_window, int(frac * len(y)))
    if len(y) < 2 * k:
        raise WorkbenchError(f"start vs end of the loss needs at least {2 * k} records, got {len(y)}")
    return {"first": window_mean_ci(y[:k]), "last": window_mean_ci(y[-k:]),
            "first_steps": (int(t[0]), int(t[k - 1])), "last_steps": (int(t[-k]), int(t[-1]))}


def heads_that_moved(scores: xr.Dataset, top: int = 3, frac: float = 0.1) -> pd.DataFrame:
    """The ``top`` (head, score) pairs with the largest ``|mean of last frac - mean of first frac|``.

    Scores are probabilities (``induction``, ``previous_token``, ``first_token``), so their changes compare.
    Columns: layer, head_index, score, initial, final, change.
    """
    rows = []
    for name in SCORES:
        if name not in scores:
            continue
        v = scores[name].transpose("step", "layer", "head_index")
        k = max(1, int(frac * v.sizes["step"]))
        first, last = v.isel(step=slice(0, k)).mean("step"), v.isel(step=slice(-k, None)).mean("step")
        for li, layer in enumerate(v["layer"].values if "layer" in v.coords else range(v.sizes["layer"])):
            for hi, head in enumerate(v["head_index"].values if "head_index" in v.coords else range(v.sizes["head_index"])):
                a, b = float(first.values[li, hi]), float(last.values[li, hi])
                rows.append({"layer": int(layer), "head_index": int(head), "score": name, "initial": a, "final": b,
                             "change": b - a})
    df = pd.DataFrame(rows, columns=["layer", "head_index", "score", "initial", "final", "change"])
    return df.reindex(df["change"].abs().sort_values(ascending=False).index).head(top).reset_index(drop=True)


def _site_values(ds: xr.Dataset, statistic: str | None = None) -> list[tuple[int | None, np.ndarray]]:
    """(layer, values over steps) for each site: schema 2 (a ``(step, site)`` variable with a ``layer`` coordinate)
    or schema 1 (one ``(step,)`` variable per site, ``blocks.{l}.`` in its name)."""
    out = []
    for name, var in ds.data_vars.items():
        if var.dims == ("step", "site") and (statistic is None or name == statistic):
            layers = var["layer"].values if "layer" in var.coords else [None] * var.sizes["site"]
            for j, layer in enumerate(layers):
                lay = int(layer) if layer is not None and np.isfinite(layer) and layer >= 0 else None
                out.append((lay, var.values[:, j].astype(float)))
            if statistic is None:
                break  # the group's first site statistic (weight_norm: the Frobenius norm)
        elif var.dims == ("step",) and not str(name).endswith(_DERIVED):
            if statistic is not None and not str(name).endswith("." + statistic):
                continue
            m = _LAYER_IN_NAME.match(str(name))
            out.append((int(m.group(1)) if m else None, var.values.astype(float)))
    return out


def layer_changes(ds: xr.Dataset, statistic: str | None = None, frac: float = 0.1, relative: bool = True) -> pd.DataFrame:
    """Per layer, the median over its sites of the change from the first to the last ``frac`` of records.

    ``relative``: ``last / first - 1`` (for norms: +0.35 = grew by 35%); else ``last - first`` (for statistics
    that can be 0 or negative, such as excess kurtosis). Sites outside the blocks (embeddings, ln_final) are
    left out. Columns: layer, median_change, n_sites; largest ``|median_change|`` first.
    """
    rows = []
    for layer, y in _site_values(ds, statistic):
        if layer is None or len(y) < 2:
            continue
        k = max(1, int(frac * len(y)))
        a, b = np.nanmean(y[:k]), np.nanmean(y[-k:])
        if relative and not (np.isfinite(a) and a > 0):
            continue
        rows.append((layer, b / a - 1 if relative else b - a))
    if not rows:
        return pd.DataFrame(columns=["layer", "median_change", "n_sites"])
    df = pd.DataFrame(rows, columns=["layer", "change"]).groupby("layer")["change"].agg(["median", "size"])
    df = df.rename(columns={"median": "median_change", "size": "n_sites"}).reset_index()
    return df.reindex(df["median_change"].abs().sort_values(ascending=False).index).reset_index(drop=True)
