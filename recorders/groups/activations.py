"""Recorders for `act_stats` (moments at each hook site, dead neurons) and `act_sample` (residual vectors)."""

from __future__ import annotations

import re

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, to_numpy
from recorders.metrics.activations import STATS, dead_fraction, moments
from recorders.store import VarMeta

__all__ = ["ActStatsRecorder", "ActSampleRecorder", "residual_sites"]

_STAT_NAMES = {
    "rms": "root mean square", "mean": "mean", "std": "standard deviation",
    "kurtosis": "excess (Fisher) kurtosis", "max_abs": "largest absolute value",
}
_STATS_SITES = re.compile(r"^blocks\.\d+\.(hook_resid_post|hook_attn_out|hook_mlp_out|mlp\.hook_post)$|^blocks\.0\.hook_resid_pre$")

_RESID_SITES = re.compile(r"^blocks\.0\.hook_resid_pre$|^blocks\.\d+\.hook_resid_post$")


def residual_sites(n_layers: int) -> list[str]:
    """The residual stream entering layer 0 and leaving every layer: blocks.0.hook_resid_pre, blocks.{l}.hook_resid_post."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]


class ActStatsRecorder(GroupRecorder):
    """RMS, mean, std, excess kurtosis and max |x| per hook site on the probe batch; dead MLP neurons."""

    group = "act_stats"
    description = "activation moments on probe/tokens, pooled over items, positions and units"
    stimulus = "tokens"

    def __init__(self) -> None:
        self._seen: dict[str, torch.Tensor] = {}

    def _sites(self, model) -> list[str]:
        return [n for n in model.hook_points if _STATS_SITES.match(n)]

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = {}
        for site in self._sites(model):
            for stat in STATS:
                units = "1" if stat == "kurtosis" else "activation units"
                out[f"{site}.{stat}"] = VarMeta((), f"{_STAT_NAMES[stat]} of {site}", units,
                                                "pooled over probe items, positions and units")
            if site.endswith("mlp.hook_post"):
                out[f"{site}.dead_fraction"] = VarMeta((), f"fraction of dead neurons in {site}", "1",
                                                       "neurons with GELU output <= 0 at every probe token")
        return out

    def hooks(self):
        def reduce(x: torch.Tensor, name: str) -> None:
            for stat, v in moments(x).items():
                self._seen[f"{name}.{stat}"] = v
            if name.endswith("mlp.hook_post"):
                self._seen[f"{name}.dead_fraction"] = dead_fraction(x)

        return [(lambda n: bool(_STATS_SITES.match(n)), reduce)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out, self._seen = {k: to_numpy(v) for k, v in self._seen.items()}, {}
        return out


class ActSampleRecorder(GroupRecorder):
    """Residual-stream vectors at every layer for the probe positions probe/sample_pos, float16.

    Size per record: batch x len(sample_pos) x d_model x (n_layers + 1) x 2 bytes.
    """

    group = "act_sample"
    description = "residual stream at probe/tokens[:, probe/sample_pos], for CKA and PCA"
    stimulus = "tokens"

    def __init__(self, sample_pos: np.ndarray) -> None:
        self.sample_pos = torch.as_tensor(sample_pos, dtype=torch.long)
        self._seen: dict[str, torch.Tensor] = {}

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {
            site: VarMeta(("batch", "pos", "d_model"), f"residual stream {site}", "activation units",
                          "none: vectors at the sample positions (probe/sample_pos)", dtype="float16")
            for site in residual_sites(model.cfg.n_layers)
        }

    def group_attrs(self, probe):
        return super().group_attrs(probe) | {"sample_pos": probe.sample_pos.tolist()}

    def hooks(self):
        def keep(x: torch.Tensor, name: str) -> None:
            self._seen[name] = x[:, self.sample_pos.to(x.device)].detach()

        return [(lambda n: bool(_RESID_SITES.match(n)), keep)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out, self._seen = {k: to_numpy(v, np.float16) for k, v in self._seen.items()}, {}
        return out

