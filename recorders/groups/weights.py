"""Recorders for `weight_norm`, `grad_norm`, `update_ratio` (per parameter `site`) and `matrices` (per head and layer).

Each computes its numbers with one fused call over all parameters and copies one tensor to the
host, so a record step costs a few kernel launches, not hundreds (docs/recorders.md, "Cost").
"""

from __future__ import annotations

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, site_coords, to_numpy
from recorders.metrics.weights import MATRICES, head_slice_norms, layer_matrices, site_norms, spectra
from recorders.store import Coord, VarMeta

__all__ = ["WeightNormRecorder", "GradNormRecorder", "UpdateRatioRecorder", "MatrixRecorder", "relative"]


def _named(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters()}


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Accumulated gradients by name; a parameter the step did not reach has a zero gradient, not a missing one."""
    return {n: (p.grad if p.grad is not None else torch.zeros_like(p)).detach() for n, p in model.named_parameters()}


def relative(delta: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """delta / base, NaN where base is 0 (a bias that was all zero has no relative update: NaN, not inf).

    >>> relative(torch.tensor([1.0, 1.0]), torch.tensor([2.0, 0.0])).tolist()
    [0.5, nan]
    """
    return torch.where(base > 0, delta / base.clamp_min(1e-30), torch.nan)


class _SiteRecorder(GroupRecorder):
    """One (step, site) array over every parameter, sites labelled by the `site` coordinate."""

    def coords(self, model, probe) -> dict[str, Coord]:
        return site_coords([n for n, _ in model.named_parameters()])

    @staticmethod
    def _site(long_name: str, reduction: str) -> VarMeta:
        return VarMeta(("site",), long_name, "1", reduction)


class WeightNormRecorder(_SiteRecorder):
    """Frobenius norm of every parameter tensor after the optimizer step."""

    group = "weight_norm"
    description = "parameter norms (Frobenius) after the optimizer step, one per named parameter"

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {"norm": self._site("Frobenius norm of the parameter", "sqrt of the sum of squared entries")}

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        return {"norm": to_numpy(site_norms(list(_named(ctx.model).values())))}


class GradNormRecorder(_SiteRecorder):
    """Norms of the accumulated gradient (unscaled, before clipping) per parameter; global norms; the AMP loss scale."""

    group = "grad_norm"
    description = "gradient of the record step: accumulated, unscaled, before clipping (none at step 0)"

    def __init__(self) -> None:
        self._pending: np.ndarray | None = None

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {
            "norm": self._site("gradient norm of the parameter", "Frobenius norm of the unscaled, unclipped gradient"),
            "global_norm": VarMeta((), "global gradient norm before clipping", "1", "sqrt of the sum over all parameters"),
            "global_norm_clipped": VarMeta((), "global gradient norm after clipping", "1", "as applied by the step"),
            "loss_scale": VarMeta((), "AMP loss scale", "1", "1.0 without a gradient scaler"),
        }

    def after_backward(self, model: torch.nn.Module) -> None:
        self._pending = to_numpy(site_norms(list(_grads(model).values())))

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray] | None:
        if self._pending is None:  # step 0, or resumed straight onto a record step: no gradient seen
            return None
        norms, self._pending = self._pending, None
        s = ctx.state
        return {
            "norm": norms,
            "global_norm": to_numpy(float(s.grad_norm)),
            "global_norm_clipped": to_numpy(float(s.grad_norm_clipped)),
            "loss_scale": to_numpy(float(getattr(s, "loss_scale", 1.0))),
        }


class UpdateRatioRecorder(_SiteRecorder):
    """`||W_after - W_before||_F / ||W_before||_F` per parameter for the optimizer step that ends at the record step."""

    group = "update_ratio"
    description = "relative size of the record step's parameter update (none at step 0)"
    needs_before = True

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return {"ratio": self._site("update ratio of the parameter",
                                    "||W_after - W_before||_F / ||W_before||_F over one step; NaN where W_before = 0")}

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray] | None:
        if ctx.before is None:
            return None
        after = _named(ctx.model)
        names = list(ctx.before)
        delta = site_norms(torch._foreach_sub([after[n].float() for n in names], [ctx.before[n].float() for n in names]))
        return {"ratio": to_numpy(relative(delta, site_norms([ctx.before[n] for n in names])))}


class MatrixRecorder(GroupRecorder):
    """Per-layer weight matrices: each head's slice norm of weight, gradient and update; sigma_max and stable rank.

    `matrix` is W_Q, W_K, W_V, W_O (attention, sliced by head) and W_in, W_out (the MLP, no heads:
    their per-head values are NaN). Gradient and update values are NaN at step 0 (none exists yet).
    """

    group = "matrices"
    description = "per-layer weight matrices (TransformerLens names): per-head slice norms and spectra"
    needs_before = True

    def __init__(self) -> None:
        self._grad: torch.Tensor | None = None

    def variables(self, model, probe) -> dict[str, VarMeta]:
        dims = ("matrix", "layer", "head_index")
        slice_note = "of each head's slice (d_head rows of W_Q/W_K/W_V, d_head columns of W_O); NaN for W_in/W_out"
        return {
            "weight_norm": VarMeta(dims, "per-head weight norm", "1", f"Frobenius norm {slice_note}"),
            "grad_norm": VarMeta(dims, "per-head gradient norm", "1",
                                 f"Frobenius norm of the unscaled, unclipped gradient {slice_note}; NaN at step 0"),
            "update_ratio": VarMeta(dims, "per-head update ratio", "1",
                                    f"||W_after - W_before||_F / ||W_before||_F {slice_note}; NaN at step 0"),
            "sigma_max": VarMeta(("matrix", "layer"), "largest singular value", "1", "||W||_2 of the whole matrix"),
            "stable_rank": VarMeta(("matrix", "layer"), "stable rank", "1", "||W||_F^2 / ||W||_2^2 of the whole matrix"),
        }

    def coords(self, model, probe) -> dict[str, Coord]:
        return {"matrix": Coord("matrix", list(MATRICES), "weight matrix (TransformerLens name)")}

    def after_backward(self, model: torch.nn.Module) -> None:
        self._grad = head_slice_norms(layer_matrices(_grads(model), model.cfg.n_layers), model.cfg.n_heads)

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        n_layers, n_heads = ctx.n_layers, ctx.n_heads
        mats = layer_matrices(_named(ctx.model), n_layers)
        weight = head_slice_norms(mats, n_heads)
        nan = torch.full_like(weight, float("nan"))
        update = nan
        if ctx.before is not None:
            before = layer_matrices(ctx.before, n_layers)
            diff = {k: [a.float() - b.float() for a, b in zip(mats[k], before[k])] for k in MATRICES}
            update = relative(head_slice_norms(diff, n_heads), head_slice_norms(before, n_heads))
        grad, self._grad = (self._grad if self._grad is not None else nan), None
        sigma, rank = spectra(mats)
        return {"weight_norm": to_numpy(weight), "grad_norm": to_numpy(grad), "update_ratio": to_numpy(update),
                "sigma_max": to_numpy(sigma), "stable_rank": to_numpy(rank)}
