"""Run one record step: the probe forwards with the groups' hooks attached, then each group's record.

Hooks exist only inside `collect` (scoped by `model.hooks`), so every other step runs exactly as
without recording, on the fused attention kernel. The probe forwards run in eval mode under
`no_grad` on the raw (uncompiled, unwrapped) model; the previous train/eval mode is restored.
"""

from __future__ import annotations

import numpy as np
import torch

from recorders.groups import GroupRecorder, RecordContext

__all__ = ["collect"]


def collect(groups: list[GroupRecorder], ctx: RecordContext) -> dict[str, dict[str, np.ndarray]]:
    """{group: {variable: array}} for this step; groups whose `measure` returns None are left out."""
    model = ctx.model
    device = next(model.parameters()).device
    was_training = model.training
    hooks_by_stimulus: dict[str, list] = {}
    for g in groups:
        if g.stimulus is not None:
            hooks_by_stimulus.setdefault(g.stimulus, []).extend(g.hooks())
    model.eval()
    try:
        with torch.no_grad():
            for stimulus, hooks in hooks_by_stimulus.items():  # one forward per stimulus, all hooks at once
                with model.hooks(hooks):
                    model(ctx.probe.tensor(stimulus, device))
            out = {}
            for g in groups:
                values = g.measure(ctx)
                if values is not None:
                    out[g.group] = values
            return out
    finally:
        model.train(was_training)
