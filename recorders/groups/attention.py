"""Recorders for `attn_entropy`, `head_scores` and `attn_pattern`: reduced inside the pattern hooks."""

from __future__ import annotations

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, per_head, to_numpy
from recorders.metrics import attention as A
from recorders.store import VarMeta

__all__ = ["AttnEntropyRecorder", "HeadScoresRecorder", "AttnPatternRecorder"]

PATTERN = "hook_pattern"
_QUERIES = "queries 1..T-1 (query 0 sees one key and is excluded)"


def _is_pattern(name: str) -> bool:
    return name.endswith(f"attn.{PATTERN}")


def _layer(name: str) -> int:
    return int(name.split(".")[1])


def _stack(per_layer: dict[int, torch.Tensor]) -> torch.Tensor:
    """{layer: (B, nh)} -> (B, layer, nh)."""
    return torch.stack([per_layer[k] for k in sorted(per_layer)], dim=1)


class _PerHeadRecorder(GroupRecorder):
    """Shared plumbing: each metric maps a pattern (B, nh, T, T) to (B, nh); store mean and `_by_item`."""

    metrics: dict[str, tuple[str, str, str]] = {}  # variable -> (long_name, units, reduction)

    def __init__(self) -> None:
        self._seen: dict[str, dict[int, torch.Tensor]] = {}

    def compute(self, pattern: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = {}
        for var, (long_name, units, reduction) in self.metrics.items():
            out[var] = per_head(long_name, units, f"mean over probe items of: {reduction}")
            out[f"{var}_by_item"] = per_head(f"{long_name} per probe item", units, reduction, by_item=True)
        return out

    def hooks(self):
        def reduce(pattern: torch.Tensor, name: str) -> None:
            for var, v in self.compute(pattern).items():
                self._seen.setdefault(var, {})[_layer(name)] = v.float()

        return [(_is_pattern, reduce)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = {}
        for var in self.metrics:
            by_item = _stack(self._seen[var])  # (B, layer, nh)
            out[var] = to_numpy(by_item.mean(0))
            out[f"{var}_by_item"] = to_numpy(by_item)
        self._seen = {}
        return out


class AttnEntropyRecorder(_PerHeadRecorder):
    """Mean attention entropy per layer and head on the natural probe batch, raw and normalised."""

    group = "attn_entropy"
    description = "attention entropy on probe/tokens (Zhai et al. 2023)"
    stimulus = "tokens"
    metrics = {
        "entropy": ("attention entropy", "nats", f"-sum_j A ln A, mean over {_QUERIES}"),
        "entropy_normalized": ("normalised attention entropy", "1", f"H_i / ln(i+1), mean over {_QUERIES}"),
    }

    def compute(self, pattern):
        return {"entropy": A.entropy(pattern), "entropy_normalized": A.entropy_normalized(pattern)}


class HeadScoresRecorder(_PerHeadRecorder):
    """Previous-token and first-token scores on the induction stimulus, and the induction score on its repeat."""

    group = "head_scores"
    description = "head scores on probe/induction_tokens (a random span repeated once; Olsson et al. 2022)"
    stimulus = "induction_tokens"
    metrics = {
        "previous_token": ("previous-token score", "probability", f"A[i, i-1], mean over {_QUERIES}"),
        "first_token": ("first-token (attention-sink) score", "probability", f"A[i, 0], mean over {_QUERIES}"),
        "induction": ("induction score", "probability", "A[i, i-n+1], mean over the n queries of the repeat"),
    }

    def __init__(self, span: int) -> None:
        super().__init__()
        self.span = span

    def compute(self, pattern):
        return {
            "previous_token": A.previous_token_score(pattern),
            "first_token": A.first_token_score(pattern),
            "induction": A.induction_score(pattern, self.span),
        }

    def group_attrs(self, probe):
        return super().group_attrs(probe) | {"span": self.span}


class AttnPatternRecorder(GroupRecorder):
    """The full attention pattern of every head on one short probe sequence (probe/pattern_tokens), float16."""

    group = "attn_pattern"
    description = "attention probabilities on probe/pattern_tokens (a short natural span repeated once)"
    stimulus = "pattern_tokens"

    def __init__(self) -> None:
        self._seen: dict[int, torch.Tensor] = {}

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {
            "pattern": VarMeta(
                ("layer", "head_index", "query_pos", "key_pos"), "attention pattern", "probability",
                "none: A[h, i, j] for the single pattern sequence", dtype="float16",
            )
        }

    def group_attrs(self, probe):
        return super().group_attrs(probe) | {"tokens": probe.pattern_tokens.tolist()}

    def hooks(self):
        def keep(pattern: torch.Tensor, name: str) -> None:
            self._seen[_layer(name)] = pattern[0].detach()

        return [(_is_pattern, keep)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = torch.stack([self._seen[k] for k in sorted(self._seen)])
        self._seen = {}
        return {"pattern": to_numpy(out, np.float16)}
