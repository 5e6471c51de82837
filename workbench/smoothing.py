"""Smoothing and rates of change of one trajectory (a metric over record steps)."""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter

from workbench.errors import WorkbenchError, require_length


def _as_1d(y, name: str = "y") -> np.ndarray:
    arr = np.asarray(y, dtype=float)
    if arr.ndim != 1:
        raise WorkbenchError(f"{name} must be one trajectory (1-D), got shape {arr.shape}; select one site/head first")
    return arr


def finite_pairs(steps, y, what: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """``(steps, y)`` as 1-D float arrays without the records where either is NaN or infinite.

    Stores hold NaN where a value does not exist yet (e.g. the training loss at step 0, before any step).
    """
    t, v = _as_1d(steps, "steps"), _as_1d(y, what)
    if len(t) != len(v):
        raise WorkbenchError(f"steps ({len(t)}) and {what} ({len(v)}) must have the same length")
    keep = np.isfinite(t) & np.isfinite(v)
    return t[keep], v[keep]


def savgol(y, window: int = 11, polyorder: int = 2) -> np.ndarray:
    """Savitzky-Golay smoothing: a least-squares polynomial of degree ``polyorder`` fitted in a sliding window.

    Formula: ``y_hat[t] = sum_k c_k y[t+k]`` for ``|k| <= window//2``, with the convolution weights
    ``c_k`` of the local polynomial fit. Units: those of ``y``. Level: any (descriptive).
    The window is shrunk to the series length (kept odd). Keeps peaks and onsets sharper than a
    moving average of the same width. Citation: Savitzky & Golay (1964), Analytical Chemistry 36(8).
    Assumes roughly even record spacing (true for recorders with a fixed ``every``).
    """
    arr = _as_1d(y)
    if not np.isfinite(arr).all():
        raise WorkbenchError("Savitzky-Golay smoothing needs finite values; drop NaN records first (finite_pairs)")
    require_length(len(arr), polyorder + 2, f"Savitzky-Golay smoothing of degree {polyorder}")
    window = min(int(window), len(arr) if len(arr) % 2 else len(arr) - 1)
    window = max(window, polyorder + 1 + (polyorder % 2 == 0))
    if window % 2 == 0:
        window += 1
    if window > len(arr):
        window -= 2
    return savgol_filter(arr, window, min(polyorder, window - 1), mode="interp")


def ema(y, alpha: float = 0.1, debias: bool = True) -> np.ndarray:
    """Exponential moving average: ``m[t] = (1 - alpha) m[t-1] + alpha y[t]``, ``m[-1] = 0``.

    With ``debias`` (as Adam and TensorBoard do) divide by ``1 - (1 - alpha)^(t+1)`` so the first values
    are not pulled towards zero. Half-life in records: ``ln 2 / -ln(1 - alpha)``. Units: those of ``y``.
    Citation: Brown (1956), exponential smoothing; debiasing as in Kingma & Ba (2015).
    """
    arr = _as_1d(y)
    if not 0 < alpha <= 1:
        raise WorkbenchError(f"alpha must be in (0, 1], got {alpha}")
    out = np.empty_like(arr)
    m = 0.0
    for t, v in enumerate(arr):
        m = (1 - alpha) * m + alpha * v
        out[t] = m / (1 - (1 - alpha) ** (t + 1)) if debias else m
    return out


def rate_of_change(steps, y, smooth_window: int | None = None) -> np.ndarray:
    """Rate of change ``dy/dstep`` by second-order central differences (``numpy.gradient``).

    Units: units of ``y`` per optimizer step. With ``smooth_window`` the series is first smoothed with
    :func:`savgol`, because differencing amplifies record-to-record noise.
    """
    s = _as_1d(steps, "steps")
    arr = _as_1d(y)
    if len(s) != len(arr):
        raise WorkbenchError(f"steps ({len(s)}) and y ({len(arr)}) must have the same length")
    require_length(len(arr), 3, "rate of change")
    if smooth_window:
        arr = savgol(arr, smooth_window)
    return np.gradient(arr, s)
