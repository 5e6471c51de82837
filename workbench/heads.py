"""Algorithmic level: head roles over training, their emergence, per-head summaries, induction onset with a CI."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from workbench.errors import MissingMetricError, WorkbenchError, require_length
from workbench.fits import fit_logistic
from workbench.smoothing import _as_1d, finite_pairs, savgol

log = logging.getLogger(__name__)

#: Default thresholds on the scores of docs/store.md (probabilities; entropy_normalized in [0, 1]).
ROLE_THRESHOLDS = {"induction": 0.3, "previous_token": 0.4, "attention_sink": 0.5, "broad": 0.8}
ROLES = ("induction", "previous_token", "attention_sink", "broad", "other")


def classify_heads(scores: xr.Dataset | dict, thresholds: dict | None = None) -> xr.DataArray:
    """Assign each head at each record one role, in priority order (first that applies wins).

    - ``induction``: induction (prefix-matching) score ``>= 0.3`` (Olsson et al. 2022);
    - ``previous_token``: mean ``A[i, i-1] >= 0.4``;
    - ``attention_sink``: mean ``A[i, 0] >= 0.5`` (Xiao et al. 2023, "attention sinks");
    - ``broad``: normalised entropy ``H / ln(i+1) >= 0.8`` (needs ``entropy_normalized``);
    - ``other``: none of these.
    ``scores`` holds ``previous_token``, ``first_token``, ``induction`` and optionally
    ``entropy_normalized``, each ``(step, layer, head_index)`` (the ``head_scores`` group, merged with
    ``attn_entropy``). Returns a string DataArray of the same dims. Level: algorithmic.
    """
    th = {**ROLE_THRESHOLDS, **(thresholds or {})}
    need = ["previous_token", "first_token", "induction"]
    missing = [k for k in need if k not in scores]
    if missing:
        raise MissingMetricError(f"head roles need head scores {', '.join(missing)}; record the head_scores group")
    prev, first, ind = (xr.DataArray(scores[k]) if not isinstance(scores[k], xr.DataArray) else scores[k] for k in need)
    role = xr.full_like(ind, "other", dtype=object)
    if "entropy_normalized" in scores:
        role = xr.where(scores["entropy_normalized"] >= th["broad"], "broad", role)
    else:
        log.info("no entropy_normalized given: the 'broad' role is not assigned")
    role = xr.where(first >= th["attention_sink"], "attention_sink", role)
    role = xr.where(prev >= th["previous_token"], "previous_token", role)
    role = xr.where(ind >= th["induction"], "induction", role)
    return role.rename("role")


def role_emergence(roles: xr.DataArray, persist: int = 3) -> pd.DataFrame:
    """The step at which each head takes each role it holds stably.

    Emergence step = the first record of the first run of at least ``persist`` consecutive records in
    that role (fewer if the run ends sooner). ``final`` says whether the head still holds the role at
    the last record. Columns: layer, head_index, role, emergence_step, n_records, final. Roles "other"
    are left out. Units: optimizer steps.
    """
    steps = roles["step"].values
    rows = []
    r = roles.transpose("step", "layer", "head_index").values
    for li, layer in enumerate(roles["layer"].values if "layer" in roles.coords else range(r.shape[1])):
        for hi, head in enumerate(roles["head_index"].values if "head_index" in roles.coords else range(r.shape[2])):
            seq = r[:, li, hi]
            for role in ROLES[:-1]:
                held = seq == role
                start = next((i for i in range(len(held)) if held[i:i + persist].all()), None)
                if start is not None:
                    rows.append({"layer": int(layer), "head_index": int(head), "role": role,
                                 "emergence_step": int(steps[start]), "n_records": int(held.sum()),
                                 "final": bool(held[-1])})
    return pd.DataFrame(rows, columns=["layer", "head_index", "role", "emergence_step", "n_records", "final"])


def trajectory_summary(values: xr.DataArray, frac: float = 0.1, noise_factor: float = 5.0,
                       direction: str = "any") -> pd.DataFrame:
    """Per-head summary of a trajectory ``(step, layer, head_index)``: start, final, 10% and 50% crossings.

    ``initial`` and ``final`` = means over the first and last ``max(1, frac * n)`` records;
    ``step_10pct`` = first step at which the (Savitzky-Golay smoothed) value has moved 10% of the way
    from initial to final; ``step_50pct`` = first step at which it has moved 50% of the way (the
    growth-curve half-time). These are *crossings*, named apart from the logistic onset of
    :func:`onset_with_ci` (``t_mid - 2w``, 12% of a fitted rise) and the role emergence step of
    :func:`role_emergence` (first of 3 consecutive records above a role threshold): three definitions,
    three names. Both are left empty when ``|change|`` is under ``noise_factor`` times the
    record-to-record noise (``1.4826 * MAD(diff y) / sqrt 2``): a head that did not change has no
    crossing; with ``direction="rise"`` (or ``"fall"``) also when the change goes the other way.
    Units: steps; values in the metric's units. Level: descriptive.
    """
    if direction not in ("any", "rise", "fall"):
        raise WorkbenchError(f"direction must be 'any', 'rise' or 'fall', got {direction!r}")
    if "step" not in values.dims:
        raise WorkbenchError(f"a trajectory needs a step dimension; got dims {values.dims}")
    steps = values["step"].values
    require_length(len(steps), 5, "a per-head trajectory summary")
    k = max(1, int(frac * len(steps)))
    flat = values.transpose("step", ...).stack(target=[d for d in values.dims if d != "step"])
    rows = []
    for j in range(flat.sizes["target"]):
        y = flat.values[:, j].astype(float)
        ys = savgol(y, 7)
        y0, y1 = float(y[:k].mean()), float(y[-k:].mean())
        change = y1 - y0
        d = np.diff(y)
        noise = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2)
        change_ok = change != 0 and abs(change) > noise_factor * noise
        change_ok = change_ok and (direction == "any" or (change > 0) == (direction == "rise"))
        moved = (ys - y0) / change if change != 0 else np.zeros_like(ys)
        at10 = np.nonzero(moved >= 0.1)[0]
        at50 = np.nonzero(moved >= 0.5)[0]
        row = {str(name): (int(v) if isinstance(v, (np.integer, int)) else v)
               for name, v in zip(flat.indexes["target"].names, flat.indexes["target"][j])}
        row.update(initial=y0, final=y1, change=change,
                   step_10pct=int(steps[at10[0]]) if len(at10) and change_ok else None,
                   step_50pct=int(steps[at50[0]]) if len(at50) and change_ok else None)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class OnsetEstimate:
    """When a score rises: the logistic midpoint and onset with confidence intervals (steps)."""

    midpoint: float
    midpoint_ci: tuple[float, float]
    onset: float
    onset_ci: tuple[float, float]
    lo: float
    hi: float
    width: float
    method: str
    level: float
    n: int

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def onset_across_seeds(onsets, level: float = 0.95) -> dict:
    """The logistic onset across seeds: mean, SD and a t-based CI ``mean +- t_{(1+level)/2, k-1} sd / sqrt(k)``.

    ``onsets`` are the per-seed estimates (steps). This interval is about *replication*: where the onset
    of another seed of the same configuration is expected on average. A per-run CI from
    :func:`onset_with_ci` is *measurement precision*: how well one run's records pin down that run's
    onset. With one seed only the second exists, and it says nothing about the spread between seeds.
    Returns ``{"mean", "sd", "ci_low", "ci_high", "k", "level"}``. Units: steps.

    >>> r = onset_across_seeds([649, 610, 700]); round(r["mean"]), round(r["ci_low"]), round(r["ci_high"])
    (653, 541, 765)
    """
    x = np.asarray([v for v in onsets if v is not None and np.isfinite(v)], dtype=float)
    require_length(len(x), 2, "an onset CI across seeds", "train more seeds (python -m seedling.train ... --seeds 3)")
    k, mean, sd = len(x), float(x.mean()), float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, k - 1)) * sd / np.sqrt(k)
    return {"mean": mean, "sd": sd, "ci_low": mean - half, "ci_high": mean + half, "k": k, "level": level}


def onset_with_ci(steps, score, method: str = "bootstrap", n_boot: int = 200, level: float = 0.95,
                  min_rise: float = 0.1, seed: int = 0) -> OnsetEstimate:
    """Onset of a rising score with a confidence interval, from a logistic fit.

    Model: ``y(t) = lo + (hi - lo) / (1 + exp(-(t - t_mid) / w))`` (see :func:`workbench.fits.fit_logistic`).
    ``midpoint = t_mid`` (half the rise done); ``onset = t_mid - 2w`` (12% of the rise done).
    CIs: ``method="delta"``: Wald intervals from the fit's covariance, with the delta method for the onset:
    ``Var(t_mid - 2w) = Var(t_mid) + 4 Var(w) - 4 Cov(t_mid, w)``. ``method="bootstrap"`` (default):
    a moving-block residual bootstrap (block length ``ceil(n^(1/3))``, ``n_boot`` refits; Kuensch 1989),
    which keeps the autocorrelation of consecutive records that the Wald interval ignores; percentile
    interval. Units: optimizer steps. Level: algorithmic. Raises if the score rises by less than ``min_rise``.
    """
    t, y = finite_pairs(steps, score, "score")
    if method not in ("delta", "bootstrap"):
        raise WorkbenchError(f"method must be 'delta' or 'bootstrap', got {method!r}")
    fit = fit_logistic(t, y)
    p = fit.params
    rise = float(fit.predict(t[-1]) - fit.predict(t[0]))  # the fitted change within the recorded steps
    if rise < min_rise:
        raise WorkbenchError(
            f"the score rises by only {rise:.3f} over the recorded steps (< {min_rise}); no onset to estimate: "
            "train longer or record a score that rises"
        )
    z = float(stats.norm.ppf(0.5 + level / 2))
    mid, w = p["t_mid"], p["width"]
    cov = fit.cov
    var_onset = cov[2, 2] + 4 * cov[3, 3] - 4 * cov[2, 3]
    mid_ci = (mid - z * fit.se["t_mid"], mid + z * fit.se["t_mid"])
    onset_ci = (mid - 2 * w - z * np.sqrt(max(var_onset, 0)), mid - 2 * w + z * np.sqrt(max(var_onset, 0)))
    if method == "bootstrap":
        rng = np.random.default_rng(seed)
        fitted = fit.predict(t)
        resid = y - fitted
        n = len(y)
        block = int(np.ceil(n ** (1 / 3)))
        mids, onsets = [], []
        for _ in range(n_boot):
            starts = rng.integers(0, n - block + 1, size=int(np.ceil(n / block)))
            rb = np.concatenate([resid[s:s + block] for s in starts])[:n]
            try:
                b = fit_logistic(t, fitted + rb).params
            except WorkbenchError:
                continue
            mids.append(b["t_mid"])
            onsets.append(b["t_mid"] - 2 * b["width"])
        if len(mids) < n_boot // 2:
            raise WorkbenchError(f"only {len(mids)} of {n_boot} bootstrap refits converged; use method='delta'")
        a = (1 - level) / 2
        mid_ci = tuple(np.quantile(mids, [a, 1 - a]))
        onset_ci = tuple(np.quantile(onsets, [a, 1 - a]))
    return OnsetEstimate(float(mid), tuple(map(float, mid_ci)), float(mid - 2 * w), tuple(map(float, onset_ci)),
                         p["lo"], p["hi"], float(w), method, level, len(y))


@dataclass
class PhaseChange:
    """The induction-head phase change: onset of the prefix-matching score and what the loss and ICL did."""

    detected: bool
    onset: OnsetEstimate | None
    layer: int | None
    head_index: int | None
    rise: float
    sharpness: float
    icl_change: float | None
    loss_rate_ratio: float | None
    reason: str


def induction_phase_change(steps, induction, loss=None, icl=None, min_rise: float = 0.2,
                           max_sharpness: float = 0.35, method: str = "bootstrap") -> PhaseChange:
    """Detect the induction-head phase change (Olsson et al. 2022, "In-context learning and induction heads").

    ``induction`` is ``(step,)`` or ``(step, layer, head_index)``; per-head input uses the head with the
    highest final score. Criteria: (1) the score rises by ``hi - lo >= min_rise``; (2) the rise is sharp:
    ``sharpness = 4 w / (t_last - t_first) <= max_sharpness`` (the 12-88% rise takes at most that fraction
    of training); (3) if ``icl`` is given, the in-context-learning score (loss late minus early in the
    context, nats) falls across the transition: ``icl_change = median(icl after t_mid + 2w) -
    median(icl before t_mid - 2w) < 0``. ``loss_rate_ratio`` (reported, not required) = the loss's mean
    rate of decrease inside ``[t_mid - 2w, t_mid + 2w]`` over its rate in the same span just before:
    above 1 is the bump of faster loss decrease that accompanies the transition. Level: algorithmic.
    """
    t = _as_1d(steps, "steps")
    layer = head = None
    arr = induction
    if isinstance(induction, xr.DataArray) and induction.ndim == 3:
        final = induction.isel(step=-1)
        li, hi = np.unravel_index(int(np.argmax(final.values)), final.shape)
        layer = int(final["layer"].values[li]) if "layer" in final.coords else int(li)
        head = int(final["head_index"].values[hi]) if "head_index" in final.coords else int(hi)
        arr = induction.transpose("step", ...).values[:, li, hi]
    y = _as_1d(arr, "induction score")
    require_length(len(y), 8, "induction phase-change detection")
    try:
        est = onset_with_ci(t, y, method=method, min_rise=min_rise)
    except WorkbenchError as e:
        return PhaseChange(False, None, layer, head, float(np.ptp(y)), float("nan"), None, None, str(e))
    sharp = 4 * est.width / max(t[-1] - t[0], 1e-12)
    a, b = est.midpoint - 2 * est.width, est.midpoint + 2 * est.width
    icl_change = None
    if icl is not None:
        v = _as_1d(icl, "icl score")
        before, after = v[(t <= a) & np.isfinite(v)], v[(t >= b) & np.isfinite(v)]
        if len(before) and len(after):
            icl_change = float(np.median(after) - np.median(before))
    ratio = None
    if loss is not None:
        L = _as_1d(loss, "loss")
        ok = np.isfinite(L)
        inside = (t >= a) & (t <= b) & ok
        prior = (t >= a - (b - a)) & (t < a) & ok
        if inside.sum() >= 2 and prior.sum() >= 2:
            rate_in = -np.polyfit(t[inside], L[inside], 1)[0]
            rate_before = -np.polyfit(t[prior], L[prior], 1)[0]
            ratio = float(rate_in / rate_before) if rate_before > 0 else float("inf")
    ok_sharp = sharp <= max_sharpness
    ok_icl = icl_change is None or icl_change < 0
    reason = "; ".join(filter(None, [
        f"score rises {est.lo:.2f} -> {est.hi:.2f}",
        f"transition spans {sharp:.0%} of training ({'sharp' if ok_sharp else 'not sharp'})",
        None if icl_change is None else f"ICL score changes by {icl_change:+.3f} nats",
    ]))
    return PhaseChange(ok_sharp and ok_icl, est, layer, head, est.hi - est.lo, float(sharp), icl_change, ratio, reason)


__all__ = ["classify_heads", "role_emergence", "trajectory_summary", "onset_with_ci", "OnsetEstimate", "onset_across_seeds",
           "induction_phase_change", "PhaseChange", "ROLE_THRESHOLDS"]
