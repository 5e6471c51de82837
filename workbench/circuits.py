"""The induction circuit over training, causally: which head feeds which, what ablating it costs, and when each part forms.

Reads the groups `head_scores`, `composition`, `ablation`, `logit_lens` and `dla` (recorded with
`--record what=...` or added afterwards by `python -m recorders.replay RUN`). Algorithmic level.

- The induction head: the head with the highest induction score at the last `head_scores` record.
- Its feeder: the head of an earlier layer with the highest K-composition into it at the last
  `composition` record (Elhage et al. 2021), compared with the null band (the 95th percentile of
  the same score between random Gaussian heads of the model's shapes).
- The ablation effect of the induction head on the repeated half of the induction probe, with a
  95% bootstrap CI over probe items (resampling items, percentile interval; Efron & Tibshirani
  1993), beside the null (a random residual direction of the same norm).
- Onsets (`workbench.heads.onset_with_ci`) of the circuit's trajectories and their order in time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from workbench.errors import WorkbenchError
from workbench.heads import onset_with_ci
from workbench.run import RunData

__all__ = ["CircuitSummary", "bootstrap_mean_ci", "circuit_trajectories", "induction_circuit", "circuit_text",
           "rescaled"]

REPLAY_HINT = "add it with `python -m recorders.replay RUN` (or record it with --record what=...)"


def bootstrap_mean_ci(x, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of per-item values and its percentile bootstrap CI, resampling items.

    >>> m, lo, hi = bootstrap_mean_ci([1.0, 1.0, 1.0])
    >>> (m, lo, hi)
    (1.0, 1.0, 1.0)
    """
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        raise WorkbenchError(f"a bootstrap CI needs at least 2 items, got {len(x)}")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(1)
    a = (1 - level) / 2
    lo, hi = np.quantile(means, [a, 1 - a])
    return float(x.mean()), float(lo), float(hi)


@dataclass
class CircuitSummary:
    """What `induction_circuit` found; `notes` say what could not be computed and why."""

    induction_head: tuple[int, int] | None = None
    feeder: tuple[int, int] | None = None
    k_composition: float | None = None  # feeder -> induction head, at the last composition record
    k_null: tuple[float, float] | None = None  # null band: (mean, 95th percentile)
    ablation_step: int | None = None
    ablation: tuple[float, float, float] | None = None  # repeat-half loss change: mean, CI lo, hi (nats)
    ablation_null: tuple[float, float, float] | None = None
    early_step: int | None = None
    early_ablation: tuple[float, float, float] | None = None  # at the last record before the induction onset
    lens_layers: list[float] = field(default_factory=list)  # repeat-half logit-lens loss per layer, last record
    onsets: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)


def circuit_trajectories(run: RunData, head: tuple[int, int], feeder: tuple[int, int] | None) -> dict[str, xr.DataArray]:
    """The circuit's trajectories over steps (those recorded): name -> DataArray(step)."""
    layer, h = head
    out: dict[str, xr.DataArray] = {}
    groups = run.groups
    if "head_scores" in groups:
        hs = run.group("head_scores")
        out["induction score"] = hs["induction"].sel(layer=layer, head_index=h)
        if feeder is not None:
            out["previous-token score (feeder)"] = hs["previous_token"].sel(layer=feeder[0], head_index=feeder[1])
    if "composition" in groups and feeder is not None:
        out["K-composition feeder -> head"] = run.variable("composition", "score").sel(
            kind="k", src_layer=feeder[0], src_head=feeder[1], dst_layer=layer, dst_head=h)
    if "ablation" in groups:
        out["ablation: repeat loss change"] = run.variable("ablation", "repeat_loss_change").sel(layer=layer, head_index=h)
    if "dla" in groups:
        out["direct logit on repeat"] = run.variable("dla", "repeat_direct_logit").sel(layer=layer, head_index=h)
    if "logit_lens" in groups:
        out[f"logit-lens repeat loss drop at layer {layer}"] = -run.variable("logit_lens", "repeat_loss").sel(layer=layer)
    return {k: v.astype(float) for k, v in out.items()}


def rescaled(da: xr.DataArray) -> xr.DataArray:
    """(x - first) / (max over steps - first): 0 at the first record, 1 at the peak, so unlike units share an axis."""
    first, top = float(da.isel(step=0)), float(da.max())
    return (da - first) / (top - first) if top > first else da * 0.0


def induction_circuit(run: RunData, method: str = "bootstrap") -> CircuitSummary:
    """Find the induction circuit's parts, effects, null bands and onsets in one run (see the module docstring)."""
    c = CircuitSummary()
    groups = run.groups
    if "head_scores" not in groups:
        c.notes.append("the induction circuit needs head_scores: train with --record")
        return c
    ind = run.variable("head_scores", "induction").isel(step=-1)
    flat = int(np.nanargmax(ind.values))
    c.induction_head = tuple(int(i) for i in np.unravel_index(flat, ind.shape))
    layer, head = c.induction_head
    if "composition" in groups and layer > 0:
        comp = run.group("composition")
        k = comp["score"].isel(step=-1).sel(kind="k", dst_layer=layer, dst_head=head).values  # (src_layer, src_head)
        k = np.where(np.arange(k.shape[0])[:, None] < layer, k, np.nan)
        src = np.unravel_index(int(np.nanargmax(k)), k.shape)
        c.feeder = (int(src[0]), int(src[1]))
        c.k_composition = float(k[src])
        null = comp["null_score"].isel(step=-1).sel(kind="k")
        c.k_null = (float(null.sel(statistic="mean")), float(null.sel(statistic="q95")))
    elif "composition" not in groups:
        c.notes.append(f"no composition group: {REPLAY_HINT}")
    if "ablation" in groups:
        ab = run.group("ablation")
        last = ab.isel(step=-1)
        c.ablation_step = int(last["step"])
        c.ablation = bootstrap_mean_ci(last["repeat_loss_change_by_item"].sel(layer=layer, head_index=head).values)
        c.ablation_null = bootstrap_mean_ci(last["repeat_null_loss_change_by_item"].sel(layer=layer, head_index=head).values)
    else:
        c.notes.append(f"no ablation group: {REPLAY_HINT}")
    if "logit_lens" in groups:
        c.lens_layers = [float(v) for v in run.variable("logit_lens", "repeat_loss").isel(step=-1).values]
    c.onsets = _onsets(circuit_trajectories(run, c.induction_head, c.feeder), method, c.notes)
    ind_onset = c.onsets.set_index("trajectory")["onset"].get("induction score") if len(c.onsets) else None
    if "ablation" in groups and ind_onset is not None and np.isfinite(ind_onset):
        ab = run.group("ablation")
        before = ab["step"].values[ab["step"].values < ind_onset]
        if len(before):
            c.early_step = int(before[-1])
            c.early_ablation = bootstrap_mean_ci(
                ab["repeat_loss_change_by_item"].sel(step=c.early_step, layer=layer, head_index=head).values)
    return c


# The smallest rise that counts as one, per trajectory: composition scores live in about [0.09, 0.2].
MIN_RISE = {"K-composition feeder -> head": 0.02}


def _onsets(trajectories: dict[str, xr.DataArray], method: str, notes: list[str]) -> pd.DataFrame:
    rows = []
    for name, da in trajectories.items():
        steps = da["step"].values
        try:
            o = onset_with_ci(steps, da.values, method=method, min_rise=MIN_RISE.get(name, 0.1))
        except WorkbenchError as e:
            notes.append(f"onset of {name}: {e}")
            continue
        # With sparse records (a replay of log-spaced checkpoints) the onset may fall in a gap between two
        # records, and the fit only interpolates there: keep the records around it for the reader.
        i = int(np.searchsorted(steps, o.onset))
        gap = (int(steps[max(i - 1, 0)]), int(steps[min(i, len(steps) - 1)]))
        rows.append({"trajectory": name, "onset": o.onset, "ci_lo": o.onset_ci[0], "ci_hi": o.onset_ci[1],
                     "midpoint": o.midpoint, "records": o.n, "ci": f"{o.method}, {o.level:.0%}",
                     "record_before": gap[0], "record_after": gap[1]})
    df = pd.DataFrame(rows, columns=["trajectory", "onset", "ci_lo", "ci_hi", "midpoint", "records", "ci",
                                     "record_before", "record_after"])
    return df.sort_values("onset", kind="stable").reset_index(drop=True)


def circuit_text(c: CircuitSummary) -> list[str]:
    """The summary's lines about the induction circuit."""
    if c.induction_head is None:
        return []
    layer, head = c.induction_head
    lines = [f"induction circuit: induction head layer {layer} head {head}"]
    if c.feeder is not None:
        above = "above" if c.k_composition > c.k_null[1] else "NOT above"
        lines.append(f"  fed by layer {c.feeder[0]} head {c.feeder[1]} (K-composition {c.k_composition:.3f}, {above} "
                     f"the null band: random heads mean {c.k_null[0]:.3f}, 95th percentile {c.k_null[1]:.3f})")
    if c.ablation is not None:
        m, lo, hi = c.ablation
        nm, nlo, nhi = c.ablation_null
        lines.append(f"  mean-ablating it at step {c.ablation_step} raises the repeated-half loss by {m:.3f} nats "
                     f"[95% CI {lo:.3f}, {hi:.3f}; bootstrap over probe items]; null (random direction, same norm) "
                     f"{nm:.3f} [{nlo:.3f}, {nhi:.3f}]")
    if c.early_ablation is not None:
        m, lo, hi = c.early_ablation
        lines.append(f"  before its onset (step {c.early_step}) the same ablation: {m:.3f} nats [{lo:.3f}, {hi:.3f}]")
    if c.lens_layers:
        lines.append("  logit lens, repeated-half loss after each layer: "
                     + ", ".join(f"layer {i}: {v:.3f}" for i, v in enumerate(c.lens_layers)) + " nats")
    if c.onsets is not None and len(c.onsets):
        lines.append("  onsets in time order (12% of the logistic rise, with CI):")
        for _, r in c.onsets.iterrows():
            sparse = r["record_after"] - r["record_before"] > r["ci_hi"] - r["ci_lo"]
            where = f"; between records {r['record_before']} and {r['record_after']}: interpolated" if sparse else ""
            lines.append(f"    {r['trajectory']}: step {r['onset']:.0f} [{r['ci_lo']:.0f}, {r['ci_hi']:.0f}] "
                         f"({r['ci']} CI, {r['records']} records{where})")
    return lines
