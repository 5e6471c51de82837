"""The plain text of `workbench summary`: what changed first, then fits, head roles and the induction onset.

Three step definitions appear here and each keeps its own name: the *logistic onset* (``t_mid - 2w``, 12%
of a fitted rise, with a CI), the *role emergence step* (first of 3 consecutive records above a role's
threshold) and, in the report, the *10% crossing* of a smoothed trajectory.
"""

from __future__ import annotations

import numpy as np

from workbench.changes import heads_that_moved, layer_changes, loss_change
from workbench.circuits import circuit_text
from workbench.errors import WorkbenchError
from workbench.findings import Findings, head_scores
from workbench.fits import WALD_CAVEAT
from workbench.formatting import fmt_ci, fmt_se
from workbench.run import RunData

TOUR = ("python -m seedling.train --preset tiny --data synthetic:induction --out runs/induction --record every=10 "
        "&& python -m workbench summary runs/induction")


def _train_loss(run: RunData, f: Findings) -> tuple[str, np.ndarray, np.ndarray] | None:
    """Every optimizer step's training loss (metrics.jsonl), else the recorded loss trajectory."""
    m = run.metrics
    if len(m) and "loss" in m and "event" in m:
        rows = m[m["event"] == "step"]
        if len(rows) >= 40:
            return "training loss, every step (metrics.jsonl)", rows["step"].to_numpy(float), rows["loss"].to_numpy(float)
    return (f.loss_name, f.steps, f.loss) if f.loss is not None else None


def what_changed(run: RunData, f: Findings) -> list[str]:
    """The summary's lead: loss and perplexity at the start and end with CIs, heads and layers that moved most."""
    lines = ["What changed:"]
    loss = _train_loss(run, f)
    if loss is not None:
        name, t, y = loss
        try:
            c = loss_change(t, y)
            (m0, a0, b0, n0), (m1, a1, b1, n1) = c["first"], c["last"]
            lines.append(f"  loss ({name}): {fmt_ci(m0, a0, b0)} nats over steps {c['first_steps'][0]}-"
                         f"{c['first_steps'][1]} -> {fmt_ci(m1, a1, b1)} over steps {c['last_steps'][0]}-"
                         f"{c['last_steps'][1]}")
            lines.append(f"  perplexity: {fmt_ci(np.exp(m0), np.exp(a0), np.exp(b0))} -> "
                         f"{fmt_ci(np.exp(m1), np.exp(a1), np.exp(b1))}  (means of {n0} and {n1} steps; 95% "
                         "batch-means t CIs, 10 blocks)")
        except WorkbenchError as e:
            lines.append(f"  loss: {e}")
    if "head_scores" in run.groups:
        moved = heads_that_moved(head_scores(run))
        if len(moved):
            lines.append("  heads that moved most (mean of the first vs last 10% of records):")
            for r in moved.itertuples():
                lines.append(f"    layer {r.layer} head {r.head_index}: {r.score} {r.initial:.2f} -> {r.final:.2f} "
                             f"({r.change:+.2f})")
    for group, stat, rel, label in (("weight_norm", None, True, "weight norm"),
                                    ("act_stats", "kurtosis", False, "activation excess kurtosis")):
        if group not in run.groups:
            continue
        ch = layer_changes(run.group(group), stat, relative=rel)
        if len(ch):
            parts = [f"layer {int(r.layer)} {r.median_change:+.0%}" if rel else f"layer {int(r.layer)} "
                     f"{r.median_change:+.2f}" for r in ch.head(3).itertuples()]
            lines.append(f"  layers whose {label} changed most (median over the layer's sites, first vs last 10%): "
                         + ", ".join(parts))
    return lines


def _fit_lines(f: Findings) -> list[str]:
    if not f.fits:
        return []
    lines = ["loss fits, ranked (fits without flags by AIC, lower first; a flagged fit is never ranked above one "
             "without):"]
    for i, fit in enumerate(f.fits, 1):
        par = ", ".join(f"{k} = {fmt_se(v, fit.se[k])}" for k, v in fit.params.items())
        lines.append(f"  {i}. {fit.formula}: {par}; R^2 {fit.r2:.3f}; AIC {fit.aic:.1f}")
        if fit.flagged:
            lines.append(f"     FLAGGED, do not report bare: {fit.describe_flags()}")
    lines.append(f"  note: {WALD_CAVEAT}")
    return lines


def summary_text(run: RunData, f: Findings) -> str:
    """A plain-text summary: what changed, records, fits (flagged), plateaus, head roles, the logistic onset."""
    lines = [f"run: {run.path}"] + what_changed(run, f) + ["records:"]
    for g in run.groups:
        ds = run.group(g)
        if "step" in ds.dims and ds.sizes["step"]:
            lines.append(f"  {g:<14} {ds.sizes['step']:>6} records, steps {int(ds['step'][0])}..{int(ds['step'][-1])}")
    if f.loss is not None and len(f.loss):
        lines.append(f"last recorded loss ({f.loss_name}): {f.loss[-1]:.4f} nats at step {int(f.steps[-1])}")
    lines += _fit_lines(f)
    if f.plateaus is not None:
        for _, p in f.plateaus.iterrows():
            lines.append(f"plateau at {p['level']:.4f} from step {int(p['start_step'])} to {int(p['end_step'])}")
    if f.emergence is not None:
        final = f.emergence[f.emergence["final"]]
        lines.append(f"head roles at the last record ({len(final)} heads with a role; role emergence step = first of "
                     "3 consecutive records past the role's threshold):")
        for _, r in final.sort_values(["layer", "head_index"]).iterrows():
            lines.append(f"  layer {r['layer']} head {r['head_index']}: {r['role']}, role emergence step "
                         f"{r['emergence_step']}")
    pc = f.phase_change
    if pc is not None:
        if pc.onset is not None:
            o = pc.onset
            lines.append(
                f"induction head: layer {pc.layer} head {pc.head_index}, score {o.lo:.2f} -> {o.hi:.2f}; "
                f"logistic onset (t_mid - 2w, 12% of the fitted rise) step {fmt_ci(o.onset, *o.onset_ci)}, "
                f"logistic midpoint step {fmt_ci(o.midpoint, *o.midpoint_ci)} ({o.level:.0%} {o.method} CIs: the "
                "precision of this run's estimate, not the spread between seeds; train --seeds 3 for that)")
        lines.append(f"induction phase change {'DETECTED' if pc.detected else 'not detected'}: {pc.reason}")
    if f.circuit is not None:
        lines += circuit_text(f.circuit)
    lines += [f"note: {n}" for n in f.notes]
    if pc is None or not pc.detected:
        lines.append(f"next: watch an induction head form (about a minute on 2 cores): {TOUR}")
    return "\n".join(lines)
