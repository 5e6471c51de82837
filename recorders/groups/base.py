"""The contract every group recorder follows, and the context a record step hands it.

A group recorder owns one store group (`loss`, `head_scores`, ...). It declares its variables
(`variables`: name -> VarMeta, dims after `step` from the store's vocabulary) and the labels of
their dimensions (`coords`: name -> Coord; places such as sites are coordinates, never parts of a
variable's name; index dimensions without one get 0..n-1), may attach hooks
for the probe forward on one stimulus (`hooks`, reducing inside the hook), may look at the
gradients (`after_backward`), and returns one record per record step (`measure`: name -> array,
or None to skip this step). `tests/test_recorder_contract.py` checks every registered recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from recorders.probe import Probe
from recorders.store import Coord, VarMeta

__all__ = ["GroupRecorder", "RecordContext", "Hook", "scalar", "per_head", "site_coords", "to_numpy"]

Hook = tuple["str | Callable[[str], bool]", Callable[[torch.Tensor, str], None]]


@dataclass
class RecordContext:
    """What a record step offers: the raw model, the probe, and the training state (duck-typed TrainState)."""

    model: torch.nn.Module
    probe: Probe
    state: Any  # TrainState: step, loss, lr, tokens, grad_norm, grad_norm_clipped, loss_scale
    # Parameters as they were before the record step's optimizer update (a copy taken once for every
    # group whose `needs_before` is set), or None at step 0 and when no group asked for it.
    before: dict[str, torch.Tensor] | None = None

    @property
    def n_layers(self) -> int:
        return self.model.cfg.n_layers

    @property
    def n_heads(self) -> int:
        return self.model.cfg.n_heads


class GroupRecorder:
    """Base class: override `variables` and `measure`; `hooks`/`after_backward` when needed."""

    group: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Which probe array the hooks run on: "tokens", "induction_tokens", "pattern_tokens" or None.
    stimulus: ClassVar[str | None] = None
    # True when `measure` reads `ctx.before` (the parameters before the record step's update).
    needs_before: ClassVar[bool] = False

    def variables(self, model: torch.nn.Module, probe: Probe) -> dict[str, VarMeta]:
        raise NotImplementedError

    def coords(self, model: torch.nn.Module, probe: Probe) -> dict[str, Coord]:
        """Labels of the variables' dimensions (`site` names, `matrix` names, positions), written once."""
        return {}

    def hooks(self) -> list[Hook]:
        """Hooks for the probe forward on `stimulus` (eval mode, no_grad); they fill this object's buffers."""
        return []

    def after_backward(self, model: torch.nn.Module) -> None:
        """Called when the gradients of a record step are accumulated, unscaled and not yet clipped."""

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray] | None:
        raise NotImplementedError

    def group_attrs(self, probe: Probe) -> dict[str, Any]:
        """Attributes written on the group (besides those the store writes)."""
        return {"description": self.description}


def scalar(long_name: str, units: str, reduction: str, **attrs: Any) -> VarMeta:
    """A variable with one value per record (dims after step: none)."""
    return VarMeta((), long_name, units, reduction, attrs=attrs)


def per_head(long_name: str, units: str, reduction: str, by_item: bool = False) -> VarMeta:
    """(layer, head_index), or (batch, layer, head_index) per probe item."""
    dims = ("batch", "layer", "head_index") if by_item else ("layer", "head_index")
    return VarMeta(dims, long_name, units, reduction)


def site_coords(sites: list[str]) -> dict[str, Coord]:
    """`site` labels plus `layer` (block index, -1 outside the blocks) and `component` (the site within its block).

    >>> c = site_coords(["wte.weight", "blocks.3.attn.qkv.weight"])
    >>> c["layer"].values.tolist(), c["component"].values.tolist()
    ([-1, 3], ['wte.weight', 'attn.qkv.weight'])
    """
    layers, components = [], []
    for site in sites:
        parts = site.split(".")
        block = len(parts) > 2 and parts[0] == "blocks" and parts[1].isdigit()
        layers.append(int(parts[1]) if block else -1)
        components.append(".".join(parts[2:]) if block else site)
    return {
        "site": Coord("site", sites, "site: parameter or hook point"),
        "layer": Coord("site", layers, "transformer block of the site (-1: outside the blocks)"),
        "component": Coord("site", components, "the site's name within its block"),
    }


def to_numpy(x: torch.Tensor | float, dtype: Any = np.float32) -> np.ndarray:
    """A detached CPU numpy copy in the store's dtype."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=dtype)
