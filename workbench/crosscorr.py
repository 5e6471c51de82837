"""Lagged cross-correlation between two trajectories: does one change before the other?"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from workbench.errors import WorkbenchError, require_length
from workbench.smoothing import _as_1d


def lagged_xcorr(x, y, max_lag: int = 10, difference: bool = True, steps=None) -> pd.DataFrame:
    """Pearson correlation of ``x[t]`` with ``y[t + k]`` for lags ``k = -max_lag .. max_lag`` (in records).

    A peak at positive ``k`` means changes in x come ``k`` records *before* changes in y (x leads);
    a peak at negative ``k`` means changes in y come first (y leads). With ``difference`` (default) both series are first-differenced: two trajectories that both trend
    downward correlate near 1 at every lag, so levels say nothing about who moves first; changes do
    (the prewhitening advice of Box & Jenkins 1976). Returns columns ``lag``, ``r``, ``n`` (pairs used)
    and, when ``steps`` is given and evenly spaced, ``lag_steps``; ``attrs`` hold ``peak_lag``,
    ``peak_r``, ``n_lags`` (``2 max_lag + 1`` tests), ``bound`` (the 95% band under no correlation,
    Bonferroni-corrected for the ``n_lags`` lags tested: ``z_{1 - 0.025 / n_lags} / sqrt(n)``; looking for
    the largest of 21 correlations finds one beyond the uncorrected band two times in three by chance)
    and ``bound_uncorrected`` (``1.96 / sqrt(n)``, right for one pre-chosen lag only).
    Units: r dimensionless, lags in records. Level: any (temporal ordering of two measurements).
    """
    a, b = _as_1d(x, "x"), _as_1d(y, "y")
    if len(a) != len(b):
        raise WorkbenchError(f"x ({len(a)}) and y ({len(b)}) must be recorded at the same steps")
    if difference:
        a, b = np.diff(a), np.diff(b)
    require_length(len(a), max_lag + 4, f"cross-correlation up to lag {max_lag}")
    rows = []
    for k in range(-max_lag, max_lag + 1):
        xa, yb = (a[: len(a) - k], b[k:]) if k >= 0 else (a[-k:], b[: len(b) + k])
        r = float(np.corrcoef(xa, yb)[0, 1]) if np.std(xa) > 0 and np.std(yb) > 0 else float("nan")
        rows.append({"lag": k, "r": r, "n": len(xa)})
    df = pd.DataFrame(rows)
    if steps is not None:
        d = np.diff(_as_1d(steps, "steps"))
        if len(d) and np.allclose(d, d[0]):
            df["lag_steps"] = df["lag"] * d[0]
    peak = df.loc[df["r"].abs().idxmax()] if df["r"].notna().any() else None
    n_lags = 2 * max_lag + 1
    df.attrs.update(peak_lag=int(peak["lag"]) if peak is not None else None,
                    peak_r=float(peak["r"]) if peak is not None else float("nan"), n_lags=n_lags,
                    bound=float(stats.norm.ppf(1 - 0.025 / n_lags)) / np.sqrt(len(a)),
                    bound_uncorrected=1.96 / np.sqrt(len(a)))
    return df
