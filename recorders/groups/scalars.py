"""Recorders for the `loss` group (training loss, probe loss, in-context-learning score) and `optim`."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from recorders.groups.base import GroupRecorder, RecordContext, scalar, to_numpy
from recorders.store import VarMeta

__all__ = ["LossRecorder", "OptimRecorder", "icl_positions"]


def icl_positions(n_pred: int) -> tuple[int, int]:
    """(early, late) prediction positions at about 0.1 and 0.9 of the context (Olsson et al. 2022 use 50 and 500)."""
    return round(0.1 * (n_pred - 1)), round(0.9 * (n_pred - 1))


class LossRecorder(GroupRecorder):
    """Training loss of the step, next-token loss on the probe batch, per position, and the ICL score."""

    group = "loss"
    description = "losses in nats; probe losses on the natural probe sequences (probe/tokens)"
    replayable = False
    stimulus = "tokens"

    def __init__(self) -> None:
        self._final: torch.Tensor | None = None

    def variables(self, model, probe) -> dict[str, VarMeta]:
        early, late = icl_positions(probe.tokens.shape[1] - 1)
        return {
            "train_loss": scalar("training loss", "nats", "mean token cross-entropy of the optimizer step; NaN at step 0"),
            "probe_loss": scalar("probe loss", "nats", "mean token cross-entropy over probe items and positions"),
            "probe_loss_by_pos": VarMeta(
                ("pos",), "probe loss by position", "nats",
                "mean over probe items; position i predicts token i+1",
            ),
            "icl_score": scalar(
                "in-context-learning score", "nats",
                f"probe loss at position {late} minus at position {early} (about 0.9T and 0.1T), mean over items",
                early_pos=early, late_pos=late,
            ),
        }

    def hooks(self):
        def keep(x: torch.Tensor, name: str) -> None:
            self._final = x.detach()

        return [("ln_final.hook_normalized", keep)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        tokens = ctx.probe.tensor("tokens", self._final.device)
        logits = F.linear(self._final, ctx.model.wte.weight)[:, :-1].float()  # (B, T-1, V)
        nll = F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(tokens.size(0), -1)
        by_pos = nll.mean(0)  # (T-1,)
        early, late = icl_positions(by_pos.numel())
        self._final = None
        train = getattr(ctx.state, "loss", None)
        return {
            "train_loss": to_numpy(math.nan if train is None or ctx.state.step == 0 else float(train)),
            "probe_loss": to_numpy(nll.mean()),
            "probe_loss_by_pos": to_numpy(by_pos),
            "icl_score": to_numpy(by_pos[late] - by_pos[early]),
        }


class OptimRecorder(GroupRecorder):
    """The learning rate of the step and the tokens seen."""

    group = "optim"
    description = "optimizer settings at the record step"
    replayable = False

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {
            "lr": scalar("learning rate", "1", "value used by the optimizer step"),
            "tokens": VarMeta((), "tokens seen", "tokens", "cumulative training tokens", dtype="int64"),
        }

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        return {"lr": to_numpy(float(ctx.state.lr)), "tokens": np.asarray(int(ctx.state.tokens), dtype="int64")}
