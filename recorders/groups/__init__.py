"""One small recorder per store group, and `build_groups`, which picks the ones a spec asks for.

To add a measurement: subclass `GroupRecorder` (see base.py), give it a `group` name, declare its
variables, and add it to `build_groups`; `tests/test_recorder_contract.py` then checks it.
"""

from __future__ import annotations

from recorders.groups.activations import ActSampleRecorder, ActStatsRecorder
from recorders.groups.attention import AttnEntropyRecorder, AttnPatternRecorder, HeadScoresRecorder
from recorders.groups.base import GroupRecorder, RecordContext
from recorders.groups.circuits import AblationRecorder, CompositionRecorder, DlaRecorder, LogitLensRecorder
from recorders.groups.constructs import ConstructsRecorder
from recorders.groups.scalars import LossRecorder, OptimRecorder
from recorders.groups.weights import GradNormRecorder, MatrixRecorder, UpdateRatioRecorder, WeightNormRecorder
from recorders.probe import Probe

__all__ = ["GroupRecorder", "RecordContext", "build_groups"]


def build_groups(what: tuple[str, ...], probe: Probe) -> list[GroupRecorder]:
    """Fresh recorders for the groups in `what` (names from recorders.spec.GROUPS and OPTIONAL_GROUPS), in that order."""
    makers = {
        "loss": LossRecorder,
        "optim": OptimRecorder,
        "weight_norm": WeightNormRecorder,
        "grad_norm": GradNormRecorder,
        "update_ratio": UpdateRatioRecorder,
        "matrices": MatrixRecorder,
        "attn_entropy": AttnEntropyRecorder,
        "attn_pattern": AttnPatternRecorder,
        "head_scores": lambda: HeadScoresRecorder(probe.span),
        "act_stats": ActStatsRecorder,
        "act_sample": lambda: ActSampleRecorder(probe.sample_pos),
        "composition": CompositionRecorder,
        "logit_lens": LogitLensRecorder,
        "dla": DlaRecorder,
        "ablation": AblationRecorder,
        "constructs": lambda: ConstructsRecorder(probe),
    }
    return [makers[g]() for g in what]
