"""Change points and plateaus of a trajectory: where and when a metric shifts or stalls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError, require_length
from workbench.smoothing import finite_pairs, savgol


class _Costs:
    """Residual sums of squares of any segment in O(1), from prefix sums (so a scan is O(n))."""

    def __init__(self, t: np.ndarray, y: np.ndarray, model: str):
        ts = (t - t[0]) / max(t[-1] - t[0], 1e-300)  # scaled to [0, 1] to keep the sums well conditioned
        self.model = model
        z = np.zeros(1)
        self.n = np.arange(len(y) + 1, dtype=float)
        self.sy, self.syy = (np.concatenate([z, np.cumsum(a)]) for a in (y, y * y))
        self.st, self.stt, self.sty = (np.concatenate([z, np.cumsum(a)]) for a in (ts, ts * ts, ts * y))

    def __call__(self, a: int, b: int) -> float:
        n = self.n[b] - self.n[a]
        if n < 2:
            return 0.0
        sy, syy = self.sy[b] - self.sy[a], self.syy[b] - self.syy[a]
        cost = syy - sy * sy / n
        if self.model == "linear":
            st, stt, sty = self.st[b] - self.st[a], self.stt[b] - self.stt[a], self.sty[b] - self.sty[a]
            sxx = stt - st * st / n
            if sxx > 1e-15:
                cost -= (sty - st * sy / n) ** 2 / sxx
        return float(max(cost, 0.0))


def _noise_variance(y: np.ndarray) -> float:
    # Robust: MAD of first differences / sqrt(2) is unaffected by a few jumps or a smooth trend.
    d = np.diff(y)
    sigma = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
    return float(max(sigma**2, 1e-12 * (np.var(y) + 1e-300)))


def change_points(steps, y, model: str = "mean", penalty: float | None = None, min_size: int = 3,
                  max_points: int = 10) -> pd.DataFrame:
    """Change points by binary segmentation with a BIC-type penalty.

    Each segment is fitted by its mean (``model="mean"``: level shifts) or a straight line
    (``model="linear"``: changes of slope, e.g. a loss curve that stalls). A split at index k is kept
    if it lowers the residual sum of squares by more than ``penalty``; the default is
    ``p * sigma^2 * ln(n)`` (BIC; ``p`` = 2 parameters per new segment for "mean", 3 for "linear")
    with ``sigma^2`` estimated robustly from the first differences (MAD / sqrt 2).
    Returns one row per change point: ``step`` (first step of the new segment), ``index``,
    ``before`` and ``after`` (segment means), sorted by step. Units: steps; levels in units of y.
    Citation: Scott & Knott (1974); Killick, Fearnhead & Eckley (2012) for penalised costs.
    """
    t, v = finite_pairs(steps, y)
    if model not in ("mean", "linear"):
        raise WorkbenchError(f"model must be 'mean' or 'linear', got {model!r}")
    require_length(len(v), 2 * min_size, "change-point detection")
    n = len(v)
    if penalty is None:
        penalty = (2 if model == "mean" else 3) * _noise_variance(v) * np.log(n)
    cost = _Costs(t, v, model)
    cuts: list[int] = []
    segments = [(0, n)]
    while segments and len(cuts) < max_points:
        best = None
        for a, b in segments:
            if b - a < 2 * min_size:
                continue
            whole = cost(a, b)
            for k in range(a + min_size, b - min_size + 1):
                gain = whole - cost(a, k) - cost(k, b)
                if best is None or gain > best[0]:
                    best = (gain, k, (a, b))
        if best is None or best[0] <= penalty:
            break
        _, k, (a, b) = best
        cuts.append(k)
        segments.remove((a, b))
        segments += [(a, k), (k, b)]
    cuts.sort()
    bounds = [0, *cuts, n]
    rows = []
    for i, k in enumerate(cuts):
        rows.append({"step": t[k], "index": k, "before": float(v[bounds[i]:k].mean()),
                     "after": float(v[k:bounds[i + 2]].mean())})
    return pd.DataFrame(rows, columns=["step", "index", "before", "after"])


def plateaus(steps, y, rel_slope: float = 0.05, min_records: int = 5, window: int = 11,
             max_gap: int = 3) -> pd.DataFrame:
    """Plateaus: stretches where the smoothed trajectory is nearly flat.

    A record is flat if ``|dy/dstep| * (last step - first step) / (max y - min y) < rel_slope``: at that
    rate, the whole run would move y by less than ``rel_slope`` of its observed range. Runs of at least
    ``min_records`` flat records are reported with ``start_step``, ``end_step``, ``level`` (median of y),
    ``n_records``. Slopes come from a Savitzky-Golay smooth (``window``); gaps of up to ``max_gap``
    non-flat records inside a plateau (noise) are closed. Units: steps; level in units of y.
    For the original Seedling run this finds the late plateau of the loss near 4.64.
    """
    t, v = finite_pairs(steps, y)
    require_length(len(v), max(min_records, 5), "plateau detection")
    span = t[-1] - t[0]
    yrange = np.ptp(v)
    if yrange == 0:
        return pd.DataFrame([{"start_step": t[0], "end_step": t[-1], "level": float(v[0]), "n_records": len(v)}])
    slope = np.gradient(savgol(v, window), t)
    flat = np.abs(slope) * span / yrange < rel_slope
    idx = np.nonzero(flat)[0]
    for a, b in zip(idx[:-1], idx[1:]):
        if 1 < b - a <= max_gap + 1:
            flat[a:b] = True
    rows = []
    i = 0
    while i < len(v):
        if flat[i]:
            j = i
            while j + 1 < len(v) and flat[j + 1]:
                j += 1
            if j - i + 1 >= min_records:
                rows.append({"start_step": t[i], "end_step": t[j], "level": float(np.median(v[i:j + 1])),
                             "n_records": j - i + 1})
            i = j + 1
        else:
            i += 1
    return pd.DataFrame(rows, columns=["start_step", "end_step", "level", "n_records"])
