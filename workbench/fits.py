"""Parametric fits of trajectories (power law, exponential, logistic) with standard errors and CIs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from workbench.errors import WorkbenchError, require_length
from workbench.smoothing import finite_pairs

log = logging.getLogger(__name__)


#: Said wherever fit SEs are shown (summary, report, dashboard): they are not the whole uncertainty.
WALD_CAVEAT = ("Wald SEs and CIs assume independent residuals; consecutive records are autocorrelated, so they are "
               "optimistic (too narrow): read them as lower bounds on the uncertainty.")

# What each parameter measures, for the range check in FitResult.flags: a time ("t") must lie within the
# recorded span, a level ("y") within the data's range widened by one range either side.
PARAM_KIND = {"tau": "t", "t0": "t", "t_mid": "t", "width": "t", "c": "y", "lo": "y", "hi": "y"}


@dataclass
class FitResult:
    """A nonlinear least-squares fit: estimates, standard errors, 95% CIs, fit statistics and warnings.

    ``se`` are the square roots of the diagonal of the asymptotic covariance ``s^2 (J^T J)^-1``
    (``scipy.optimize.curve_fit`` with ``absolute_sigma=False``); ``ci`` are Wald intervals
    ``estimate +- t_{0.975, n-p} * se``. They assume independent residuals; consecutive records are
    autocorrelated, so treat them as lower bounds on the uncertainty (use the bootstrap in
    :func:`workbench.heads.onset_with_ci` where it matters). ``flags`` names every parameter that
    must not be reported bare (at a bound, SE larger than the estimate, outside the data's range);
    :func:`rank_fits` never ranks a flagged fit first.
    """

    name: str
    formula: str
    params: dict[str, float]
    se: dict[str, float]
    cov: np.ndarray
    n: int
    rss: float
    func: Callable = field(repr=False)
    bounds: tuple = field(default=((), ()), repr=False)
    t_range: tuple[float, float] = (float("nan"), float("nan"))
    y_range: tuple[float, float] = (float("nan"), float("nan"))
    tss: float = float("nan")

    @property
    def ci(self) -> dict[str, tuple[float, float]]:
        q = stats.t.ppf(0.975, max(self.n - len(self.params), 1))
        return {k: (v - q * self.se[k], v + q * self.se[k]) for k, v in self.params.items()}

    @property
    def aic(self) -> float:
        """Gaussian AIC: ``n ln(RSS/n) + 2(p+1)``; compare models fitted to the same points."""
        return float(self.n * np.log(max(self.rss, 1e-300) / self.n) + 2 * (len(self.params) + 1))

    @property
    def r2(self) -> float:
        """``1 - RSS / TSS``: the share of the trajectory's variance around its mean that the curve explains."""
        return float(1 - self.rss / self.tss) if self.tss > 0 else float("nan")

    @property
    def flags(self) -> dict[str, list[str]]:
        """Why each parameter must not be reported bare, ``{name: [reasons]}`` (only flagged parameters).

        Reasons: ``at a bound`` (within 0.1% of the bound's scale of a bound the optimiser enforced: the
        data did not determine it); ``SE > |estimate|`` (the estimate is not distinguishable from 0);
        ``outside the recorded steps`` (a time constant, shift, midpoint or width beyond the span of
        ``t``); ``beyond the data's range`` (a level more than one data range outside ``[min y, max y]``);
        ``below 0 though every value is >= 0`` (e.g. a negative asymptote of a cross-entropy).
        """
        lows, highs = self.bounds if len(self.bounds) == 2 else ((), ())
        span = self.t_range[1] - self.t_range[0]
        y_lo, y_hi = self.y_range
        y_span = max(y_hi - y_lo, 1e-12)
        out: dict[str, list[str]] = {}
        for i, (k, v) in enumerate(self.params.items()):
            why = []
            for b in (lows[i] if i < len(lows) else None, highs[i] if i < len(highs) else None):
                if b is not None and np.isfinite(b) and abs(v - b) <= 1e-3 * max(abs(b), abs(v), y_span, 1e-9):
                    why.append("at a bound")
                    break
            se = self.se[k]
            if not np.isfinite(se) or se > abs(v):
                why.append("SE > |estimate|")
            kind = PARAM_KIND.get(k)
            if kind == "t" and np.isfinite(span) and not (0 < v <= span if k in ("tau", "width", "t0") else
                                                          self.t_range[0] <= v <= self.t_range[1]):
                why.append("outside the recorded steps")
            if kind == "y" and np.isfinite(y_lo) and not (y_lo - y_span <= v <= y_hi + y_span):
                why.append("beyond the data's range")
            elif kind == "y" and y_lo >= 0 > v:
                why.append("below 0 though every value is >= 0")
            if why:
                out[k] = why
        return out

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def describe_flags(self) -> str:
        """The flags as one phrase, e.g. ``"c: at a bound, SE > |estimate|"``; empty when none."""
        return "; ".join(f"{k}: {', '.join(v)}" for k, v in self.flags.items())

    def predict(self, t) -> np.ndarray:
        return self.func(np.asarray(t, dtype=float), *self.params.values())

    def table(self) -> pd.DataFrame:
        """One row per parameter: estimate, se, ci_low, ci_high, flag (empty when fine), and the fit's R^2 and AIC."""
        ci, flags = self.ci, self.flags
        return pd.DataFrame([{"model": self.name, "parameter": k, "estimate": v, "se": self.se[k],
                              "ci_low": ci[k][0], "ci_high": ci[k][1], "flag": ", ".join(flags.get(k, [])),
                              "r2": self.r2, "aic": self.aic} for k, v in self.params.items()])


def rank_fits(fits: list[FitResult]) -> list[FitResult]:
    """Fits ordered for recommendation: unflagged ones by AIC (lower first), then flagged ones by AIC.

    AIC compares fits to the same points; a fit with a parameter at a bound or outside the data's
    range can have the lowest AIC and still be wrong about what it claims (a negative cross-entropy,
    a time constant longer than the run), so it is never recommended over an unflagged fit.
    """
    return sorted(fits, key=lambda f: (f.flagged, f.aic))


def _fit(name, formula, func, t, y, p0, bounds, names) -> FitResult:
    try:
        popt, pcov = optimize.curve_fit(func, t, y, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, ValueError) as e:
        raise WorkbenchError(f"the {name} fit did not converge ({e}); the trajectory may not have that shape") from e
    resid = y - func(t, *popt)
    se = np.sqrt(np.clip(np.diag(pcov), 0, None))
    return FitResult(name, formula, dict(zip(names, map(float, popt))), dict(zip(names, map(float, se))),
                     pcov, len(y), float(resid @ resid), func, bounds=(tuple(bounds[0]), tuple(bounds[1])),
                     t_range=(float(t.min()), float(t.max())), y_range=(float(y.min()), float(y.max())),
                     tss=float(((y - y.mean()) ** 2).sum()))


def _power(t, a, b, c):
    return c + a * np.power(t, -b)


def _power_shift(t, a, b, c, t0):
    return c + a * np.power(t + t0, -b)


def fit_power_law(steps, loss, shift: bool = False) -> FitResult:
    """Fit ``L(t) = c + a * t^(-b)`` (power law with an irreducible offset ``c``).

    With ``shift=True`` fit ``L(t) = c + a * (t + t0)^(-b)``, ``t0 >= 0`` in steps: the form of
    ``(1 + t / tau)^(-b)`` curves, which are flat at the start instead of infinite; step 0 is then kept.

    Units: ``a`` in loss units * steps^b, ``b`` dimensionless (the exponent), ``c`` in loss units
    (the loss the curve approaches), bounded to ``0 <= c <= min L`` (a cross-entropy cannot be negative,
    and the curve approaches it from above). Records at step 0 are dropped (t^-b is infinite there).
    Level: computational. Citation: Kaplan et al. (2020), "Scaling laws for neural language models";
    Hoffmann et al. (2022) for the offset form.
    """
    t, y = finite_pairs(steps, loss, "loss")
    keep = t >= 0 if shift else t > 0
    t, y = t[keep], y[keep]
    require_length(len(y), 5 + shift, "a power-law fit")
    c0 = max(y.min() - 0.05 * np.ptp(y), 0.5 * y.min())
    t_log = t + 1.0 if shift else t
    slope, icpt = np.polyfit(np.log(t_log), np.log(np.clip(y - c0, 1e-12, None)), 1)
    p0 = [float(np.exp(icpt)), float(max(-slope, 1e-3)), float(c0)]
    if shift:
        span = max(t[-1] - t[0], 1.0)
        return _fit("power_law_shifted", "L(t) = c + a * (t + t0)^(-b)", _power_shift, t, y, p0 + [1.0],
                    ([0, 0, 0, 1e-6], [np.inf, 10, max(float(y.min()), 1e-12), span]), ["a", "b", "c", "t0"])
    return _fit("power_law", "L(t) = c + a * t^(-b)", _power, t, y, p0,
                ([0, 0, 0], [np.inf, 10, max(float(y.min()), 1e-12)]), ["a", "b", "c"])


def _expo(t, a, tau, c):
    return c + a * np.exp(-t / tau)


def fit_exponential(steps, loss) -> FitResult:
    """Fit ``L(t) = c + a * exp(-t / tau)``.

    Units: ``a`` and ``c`` in loss units, ``tau`` in steps (the time constant; the half-life is
    ``tau ln 2``). Level: computational. A common alternative to the power law; compare by ``aic``.
    """
    t, y = finite_pairs(steps, loss, "loss")
    require_length(len(y), 5, "an exponential fit")
    p0 = [float(y[0] - y[-1]) or 1.0, float(max((t[-1] - t[0]) / 5, 1e-6)), float(y[-1])]
    return _fit("exponential", "L(t) = c + a * exp(-t / tau)", _expo, t, y, p0,
                ([-np.inf, 1e-12, -np.inf], [np.inf, np.inf, np.inf]), ["a", "tau", "c"])


def _logistic(t, lo, hi, t_mid, width):
    return lo + (hi - lo) * special.expit((t - t_mid) / width)  # expit: no overflow far from t_mid


def fit_logistic(steps, y) -> FitResult:
    """Fit ``y(t) = lo + (hi - lo) / (1 + exp(-(t - t_mid) / width))``: a sigmoid rise (or fall).

    Units: ``lo`` and ``hi`` in units of y, ``t_mid`` (the midpoint of the transition) and ``width``
    in steps; the rise from 12% to 88% of its height takes ``4 * width`` steps. ``t_mid`` is kept inside
    the recorded steps and ``width`` below the recorded span, so a flat or noisy series cannot be
    explained by a huge sigmoid far outside the data.
    Level: algorithmic when y is a head score. Used for the onset of an induction head.
    """
    t, v = finite_pairs(steps, y)
    require_length(len(v), 6, "a logistic fit")
    span = max(t[-1] - t[0], 1e-12)
    k = max(3, len(v) // 10)
    lo, hi = float(np.median(v[:k])), float(np.median(v[-k:]))
    half = lo + (hi - lo) / 2
    cross = np.nonzero((v - half) * np.sign(hi - lo + 1e-300) >= 0)[0]
    t_mid = float(t[cross[0]]) if len(cross) else float(t[len(t) // 2])
    p0 = [lo, hi, t_mid, span / 20]
    return _fit("logistic", "y(t) = lo + (hi - lo) / (1 + exp(-(t - t_mid) / width))", _logistic, t, v, p0,
                ([-np.inf, -np.inf, t[0], span * 1e-4], [np.inf, np.inf, t[-1], span]),
                ["lo", "hi", "t_mid", "width"])
