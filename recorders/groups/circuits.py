"""Recorders for `ablation`, `composition`, `logit_lens` and `dla`: the causal and circuit measurements.

Each wraps one function of recorders/metrics (ablation.py, composition.py, lens.py) and runs its
own forwards in `measure` (no shared-forward hooks: an ablation changes the forward it runs in).
Two stimuli: the natural probe (`probe/tokens`, all predictions) and the induction stimulus
(`probe/induction_tokens`, the predictions of the repeated half, positions span..2*span-2, where
an induction head can help); `repeat_` in a variable's name says which. The same code runs at
record steps during training and in `python -m recorders.replay` over saved checkpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, per_head, scalar, to_numpy
from recorders.metrics.ablation import head_ablation
from recorders.metrics.composition import KINDS, composition_scores, head_factors, random_baseline
from recorders.metrics.lens import direct_logit_attribution, logit_lens
from recorders.metrics.nll import repeat_positions
from recorders.probe import Probe
from recorders.store import Coord, VarMeta

__all__ = ["AblationRecorder", "CompositionRecorder", "LogitLensRecorder", "DlaRecorder"]

_REPEAT = "the repeated half of probe/induction_tokens (predictions at positions span..2*span-2)"
_NATURAL = "probe/tokens (every prediction)"
NULL_STATISTICS = ("mean", "q95")  # the `statistic` coordinate of composition/null_score


def _stimuli(ctx: RecordContext) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """{prefix: (tokens on the model's device, prediction positions or None)} for both stimuli."""
    device = next(ctx.model.parameters()).device
    induction = ctx.probe.tensor("induction_tokens", device)
    return {"": (ctx.probe.tensor("tokens", device), None),
            "repeat_": (induction, repeat_positions(induction.size(1), ctx.probe.span))}


def _with_items(name: str, by_item: torch.Tensor) -> dict[str, np.ndarray]:
    """`name`: the mean over probe items (dim 0); `name_by_item`: the per-item values."""
    return {name: to_numpy(by_item.mean(0)), f"{name}_by_item": to_numpy(by_item)}


def _heads_with_items(name: str, long_name: str, units: str, per_item: str) -> dict[str, VarMeta]:
    """VarMeta of `_with_items`' pair for a per-head quantity; `per_item` says how one item's value is reduced."""
    return {name: per_head(long_name, units, f"mean over probe items of the {per_item}"),
            f"{name}_by_item": per_head(long_name, units, per_item, by_item=True)}


def _by_layer(long_name: str, units: str, reduction: str, by_item: bool = False) -> VarMeta:
    return VarMeta(("batch", "layer") if by_item else ("layer",), long_name, units, reduction)


class AblationRecorder(GroupRecorder):
    """Loss change from mean-ablating each head's hook_z, per item, with the random-direction null."""

    group = "ablation"
    description = ("mean-ablation of each head's output (hook_z) over the probe batch and positions: loss(ablated) - "
                   "loss(clean); null: a random residual direction of the same norm (Wang et al. 2022)")

    def __init__(self, mode: str = "mean") -> None:
        self.mode = mode

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out: dict[str, VarMeta] = {}
        for prefix, where in (("", _NATURAL), ("repeat_", _REPEAT)):
            out[f"{prefix}clean_loss"] = scalar(f"clean loss on {where}", "nats", "mean over items and predictions")
            for var, what in (("loss_change", f"{self.mode}-ablation"), ("null_loss_change", "random-direction null")):
                out |= _heads_with_items(f"{prefix}{var}", f"loss change from {what} on {where}", "nats",
                                         "change in the mean loss over predictions")
        return out

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = {}
        for prefix, (tokens, positions) in _stimuli(ctx).items():
            r = head_ablation(ctx.model, tokens, positions, mode=self.mode)
            out[f"{prefix}clean_loss"] = to_numpy(r["clean"].mean())
            for var, key in (("loss_change", "effect"), ("null_loss_change", "null_effect")):
                out |= _with_items(f"{prefix}{var}", r[key])
        return out

    def group_attrs(self, probe: Probe) -> dict[str, Any]:
        return super().group_attrs(probe) | {"mode": self.mode, "span": probe.span}


class CompositionRecorder(GroupRecorder):
    """Q-, K- and V-composition from every head into every head of a later layer, and their Gaussian null."""

    group = "composition"
    description = ("composition scores ||W_OV^A W^B||_F / (||W_OV^A||_F ||W^B||_F), row-vector convention, ln1 gain "
                   "folded in (Elhage et al. 2021)")
    n_null = 500

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {"score": VarMeta(
            ("kind", "src_layer", "src_head", "dst_layer", "dst_head"), "composition score", "1",
            "Q: ||W_OV^A W_QK^B||, K: ||W_OV^A W_QK^B^T||, V: ||W_OV^A W_OV^B||, each over ||W_OV^A|| ||W^B|| "
            "(Frobenius); NaN where src_layer >= dst_layer (a head composes only with later layers)",
        ), "null_score": VarMeta(
            ("kind", "statistic"), "composition score of random heads", "1",
            f"over {self.n_null} pairs of heads with i.i.d. Gaussian W_Q, W_K, W_V, W_O of the model's shapes (seed 0): "
            "mean, 95th percentile",
        )}

    def __init__(self) -> None:
        self._null: dict[tuple[int, int], np.ndarray] = {}  # (d_model, d_head) -> (kind, statistic); seeded, so cached

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        cfg = ctx.model.cfg
        shape = (cfg.d_model, cfg.d_head)
        if shape not in self._null:
            null = random_baseline(*shape, n=self.n_null)
            self._null[shape] = to_numpy(torch.stack([null.mean(1), torch.quantile(null, 0.95, dim=1)], dim=1))
        return {"score": to_numpy(composition_scores(head_factors(ctx.model))), "null_score": self._null[shape]}

    def coords(self, model, probe) -> dict[str, Coord]:
        return {"kind": Coord("kind", list(KINDS), "composition kind (which matrix of the later head reads)"),
                "statistic": Coord("statistic", list(NULL_STATISTICS), "summary of the random-head scores")}


class LogitLensRecorder(GroupRecorder):
    """Loss and KL to the output when the residual after each layer is read out through ln_final and W_U."""

    group = "logit_lens"
    description = "logit lens: ln_final(resid_post_l) W_U per layer l (nostalgebraist 2020)"

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = {}
        for prefix, where in (("", _NATURAL), ("repeat_", _REPEAT)):
            for var, long_name, red in (("loss", "logit-lens loss", "cross-entropy of ln_final(resid_post_l) W_U"),
                                        ("kl", "KL(output || logit lens)", "sum_v p_final ln(p_final / p_l)")):
                out[f"{prefix}{var}"] = _by_layer(f"{long_name} on {where}", "nats", f"mean over items and predictions of {red}")
                out[f"{prefix}{var}_by_item"] = _by_layer(f"{long_name} on {where}", "nats", f"mean over predictions of {red}", True)
        return out

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = {}
        for prefix, (tokens, positions) in _stimuli(ctx).items():
            r = logit_lens(ctx.model, tokens, positions)
            for var in ("loss", "kl"):
                out |= _with_items(f"{prefix}{var}", r[var])
        return out


class DlaRecorder(GroupRecorder):
    """Each head's direct contribution to the correct next-token logit, through the frozen final-LayerNorm scale."""

    group = "dla"
    description = ("direct logit attribution: ((z_h W_O^h - mean) / sigma_final) . (gamma * W_U[next token]) per head "
                   "(Elhage et al. 2021)")

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = {}
        for prefix, where in (("", _NATURAL), ("repeat_", _REPEAT)):
            out |= _heads_with_items(f"{prefix}direct_logit", f"direct logit attribution on {where}", "logit",
                                     "mean over predictions")
        return out

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = {}
        for prefix, (tokens, positions) in _stimuli(ctx).items():
            heads = direct_logit_attribution(ctx.model, tokens)["heads"]  # (B, T-1, layer, head_index)
            out |= _with_items(f"{prefix}direct_logit", (heads if positions is None else heads[:, positions]).mean(1))
        return out
