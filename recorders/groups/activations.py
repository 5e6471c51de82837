"""Recorders for `act_stats` (moments at each hook site, dead neurons) and `act_sample` (residual vectors)."""

from __future__ import annotations

import re

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, site_coords, to_numpy
from recorders.metrics.activations import STATS, dead_fraction, moments
from recorders.store import Coord, VarMeta

__all__ = ["ActStatsRecorder", "ActSampleRecorder", "residual_sites", "stats_sites"]

_STAT_NAMES = {
    "rms": "root mean square", "mean": "mean", "std": "standard deviation",
    "kurtosis": "excess (Fisher) kurtosis", "max_abs": "largest absolute value",
}
_STATS_SITES = re.compile(r"^blocks\.\d+\.(hook_resid_post|hook_attn_out|hook_mlp_out|mlp\.hook_post)$|^blocks\.0\.hook_resid_pre$")

_RESID_SITES = re.compile(r"^blocks\.0\.hook_resid_pre$|^blocks\.\d+\.hook_resid_post$")


def residual_sites(n_layers: int) -> list[str]:
    """The residual stream entering layer 0 and leaving every layer: blocks.0.hook_resid_pre, blocks.{l}.hook_resid_post."""
    return ["blocks.0.hook_resid_pre"] + [f"blocks.{i}.hook_resid_post" for i in range(n_layers)]


_FLOW = ("hook_resid_pre", "hook_attn_out", "mlp.hook_post", "hook_mlp_out", "hook_resid_post")


def stats_sites(hook_points: list[str]) -> list[str]:
    """The hook sites act_stats measures, in the order data flows: the embeddings (blocks.0.hook_resid_pre), then
    per layer hook_attn_out, mlp.hook_post (the MLP neurons), hook_mlp_out, hook_resid_post."""
    def order(name: str) -> tuple[int, int]:
        parts = name.split(".", 2)
        return int(parts[1]), _FLOW.index(parts[2])

    return sorted((n for n in hook_points if _STATS_SITES.match(n)), key=order)


class ActStatsRecorder(GroupRecorder):
    """RMS, mean, std, excess kurtosis and max |x| per hook site on the probe batch; dead MLP neurons.

    One (step, site) array per statistic (each has its own units); `dead_fraction` is NaN at the
    sites that are not MLP neurons.
    """

    group = "act_stats"
    description = "activation moments on probe/tokens, pooled over items, positions and units"
    stimulus = "tokens"

    def __init__(self) -> None:
        self._seen: dict[str, torch.Tensor] = {}
        self._sites: list[str] = []

    def variables(self, model, probe) -> dict[str, VarMeta]:
        self._sites = stats_sites(list(model.hook_points))
        out = {}
        for stat in STATS:
            units = "1" if stat == "kurtosis" else "activation units"
            out[stat] = VarMeta(("site",), _STAT_NAMES[stat], units, "pooled over probe items, positions and units")
        out["dead_fraction"] = VarMeta(("site",), "fraction of dead MLP neurons", "1",
                                       "neurons with GELU output <= 0 at every probe token; NaN except at mlp.hook_post")
        return out

    def coords(self, model, probe) -> dict[str, Coord]:
        return site_coords(stats_sites(list(model.hook_points)))

    def hooks(self):
        def reduce(x: torch.Tensor, name: str) -> None:
            m = moments(x)
            dead = dead_fraction(x) if name.endswith("mlp.hook_post") else torch.tensor(float("nan"), device=x.device)
            self._seen[name] = torch.stack([*(m[s].float() for s in STATS), dead.float()])  # (n_stats + 1,)

        return [(lambda n: bool(_STATS_SITES.match(n)), reduce)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        sites = self._sites or stats_sites(list(ctx.model.hook_points))
        table = to_numpy(torch.stack([self._seen[s] for s in sites], dim=1))  # (n_stats + 1, site): one copy
        self._seen = {}
        return {name: table[i] for i, name in enumerate((*STATS, "dead_fraction"))}


class ActSampleRecorder(GroupRecorder):
    """Residual-stream vectors at every layer for the probe positions probe/sample_pos, float16.

    Size per record: (n_layers + 1) x batch x len(sample_pos) x d_model x 2 bytes.
    """

    group = "act_sample"
    description = "residual stream at probe/tokens[:, probe/sample_pos], for CKA and PCA"
    stimulus = "tokens"

    def __init__(self, sample_pos: np.ndarray) -> None:
        self.sample_pos = torch.as_tensor(sample_pos, dtype=torch.long)
        self._seen: dict[str, torch.Tensor] = {}

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {
            "resid": VarMeta(("site", "batch", "pos", "d_model"), "residual stream", "activation units",
                             "none: vectors at the sample positions (the pos coordinate, probe/sample_pos)", dtype="float16")
        }

    def coords(self, model, probe) -> dict[str, Coord]:
        return site_coords(residual_sites(model.cfg.n_layers)) | {
            "pos": Coord("pos", self.sample_pos.numpy(), "token position in the probe item")}

    def group_attrs(self, probe):
        return super().group_attrs(probe) | {"sample_pos": probe.sample_pos.tolist()}

    def hooks(self):
        def keep(x: torch.Tensor, name: str) -> None:
            self._seen[name] = x[:, self.sample_pos.to(x.device)].detach()

        return [(lambda n: bool(_RESID_SITES.match(n)), keep)]

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        out = torch.stack([self._seen[s] for s in residual_sites(ctx.n_layers)])  # (site, B, n_sample, D)
        self._seen = {}
        return {"resid": to_numpy(out, np.float16)}
