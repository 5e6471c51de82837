"""Run-level findings: the analyses applied to one opened run (shared by the report and the summary command)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from workbench.changepoint import plateaus
from workbench.circuits import CircuitSummary, induction_circuit
from workbench.errors import WorkbenchError
from workbench.fits import FitResult, fit_exponential, fit_logistic, fit_power_law, rank_fits
from workbench.heads import PhaseChange, classify_heads, induction_phase_change, role_emergence
from workbench.run import RunData

log = logging.getLogger(__name__)


@dataclass
class Findings:
    """What the workbench found in one run; ``notes`` say which analyses could not run and why."""

    run: str
    steps: np.ndarray
    loss_name: str | None = None
    loss: np.ndarray | None = None
    fits: list[FitResult] = field(default_factory=list)
    plateaus: pd.DataFrame | None = None
    roles: xr.DataArray | None = None
    emergence: pd.DataFrame | None = None
    phase_change: PhaseChange | None = None
    circuit: CircuitSummary | None = None
    notes: list[str] = field(default_factory=list)


def loss_trajectory(run: RunData) -> tuple[str, np.ndarray, np.ndarray]:
    """(name, steps, values) of the run's loss: the store's ``loss/train_loss``, else metrics.jsonl."""
    if "loss" in run.groups:
        ds = run.group("loss")
        for name in ("train_loss", "probe_loss"):
            if name in ds:
                return f"loss/{name}", ds["step"].values, ds[name].values.astype(float)
    m = run.metrics
    if len(m) and "loss" in m:
        steps = m[m["event"] == "step"]
        return "metrics.jsonl loss", steps["step"].to_numpy(), steps["loss"].to_numpy(dtype=float)
    raise WorkbenchError(f"{run.path} has no loss recorded (neither records.zarr loss group nor metrics.jsonl)")


def head_scores(run: RunData) -> xr.Dataset:
    """The head_scores group merged with attn_entropy's ``entropy_normalized`` when recorded."""
    ds = run.group("head_scores")
    if "attn_entropy" in run.groups:
        ent = run.group("attn_entropy")
        if "entropy_normalized" in ent:
            ds = ds.assign(entropy_normalized=ent["entropy_normalized"].reindex(step=ds["step"]))
    return ds


def find(run: RunData, method: str = "bootstrap") -> Findings:
    """Run the standard analyses on one run; anything that cannot run becomes a note, not an error."""
    f = Findings(run=run.name, steps=np.array([]))
    try:
        f.loss_name, f.steps, f.loss = loss_trajectory(run)
    except WorkbenchError as e:
        f.notes.append(str(e))
    if f.loss is not None:
        fitters = {"power law": fit_power_law, "shifted power law": lambda t, y: fit_power_law(t, y, shift=True),
                   "exponential": fit_exponential, "logistic": fit_logistic}
        for label, fitter in fitters.items():
            try:
                f.fits.append(fitter(f.steps, f.loss))
            except WorkbenchError as e:
                f.notes.append(f"{label} fit: {e}")
        f.fits = rank_fits(f.fits)  # unflagged by AIC first: what the summary and report recommend
        try:
            f.plateaus = plateaus(f.steps, f.loss)
        except WorkbenchError as e:
            f.notes.append(f"plateaus: {e}")
    if "head_scores" not in run.groups:
        f.notes.append("head roles and the induction phase change need the head_scores group: train with --record")
        return f
    scores = head_scores(run)
    f.roles = classify_heads(scores)
    f.emergence = role_emergence(f.roles)
    icl = None
    loss_at = None
    if "loss" in run.groups:
        lg = run.group("loss").reindex(step=scores["step"])
        icl = lg["icl_score"].values if "icl_score" in lg else None
        loss_at = lg["train_loss"].values if "train_loss" in lg else None
    if icl is None:
        f.notes.append("no loss/icl_score recorded: the phase change is judged on the induction score alone")
    try:
        f.phase_change = induction_phase_change(scores["step"].values, scores["induction"], loss=loss_at, icl=icl,
                                                method=method)
    except WorkbenchError as e:
        f.notes.append(f"induction phase change: {e}")
    f.circuit = induction_circuit(run, method=method)
    f.notes += f.circuit.notes
    return f
