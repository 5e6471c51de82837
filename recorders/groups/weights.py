"""Recorders for `weight_norm`, `grad_norm` and `update_ratio`: per-site norms, spectra, update sizes."""

from __future__ import annotations

import numpy as np
import torch

from recorders.groups.base import GroupRecorder, RecordContext, to_numpy
from recorders.metrics.weights import frobenius_by_site, spectral_by_site
from recorders.store import VarMeta

__all__ = ["WeightNormRecorder", "GradNormRecorder", "UpdateRatioRecorder", "site_variables"]


def _params(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach() for n, p in model.named_parameters()}


def site_variables(model: torch.nn.Module, long_name: str, units: str, reduction: str) -> dict[str, VarMeta]:
    """One variable per site of `frobenius_by_site`: scalars, and (head_index,) for per-head slices."""
    sites = frobenius_by_site(_params(model), model.cfg.n_heads)
    return {
        name: VarMeta(("head_index",) if v.ndim else (), f"{long_name} of {name}", units, reduction)
        for name, v in sites.items()
    }


def _numpy(values: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: to_numpy(v) for k, v in values.items()}


class WeightNormRecorder(GroupRecorder):
    """Frobenius norm of every parameter and per-head slice; sigma_max and stable rank of each weight matrix."""

    group = "weight_norm"
    description = "parameter norms (Frobenius) and spectra after the optimizer step"

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = site_variables(model, "Frobenius norm", "1", "sqrt of the sum of squared entries")
        for name in spectral_by_site(_params(model), model.cfg.n_heads):
            site, stat = name.rsplit(".", 1)
            if stat == "sigma_max":
                out[name] = VarMeta((), f"largest singular value of {site}", "1", "||W||_2 of the whole matrix")
            else:
                out[name] = VarMeta((), f"stable rank of {site}", "1", "||W||_F^2 / ||W||_2^2 of the whole matrix")
        return out

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray]:
        params = _params(ctx.model)
        return _numpy(frobenius_by_site(params, ctx.n_heads) | spectral_by_site(params, ctx.n_heads))


class GradNormRecorder(GroupRecorder):
    """Norms of the accumulated gradient (unscaled, before clipping) per site; global norms; the AMP loss scale."""

    group = "grad_norm"
    description = "gradient of the record step: accumulated, unscaled, before clipping (none at step 0)"
    replayable = False

    def __init__(self) -> None:
        self._pending: dict[str, np.ndarray] | None = None

    def variables(self, model, probe) -> dict[str, VarMeta]:
        out = site_variables(model, "gradient norm", "1", "Frobenius norm of the unscaled, unclipped gradient")
        out["global_norm"] = VarMeta((), "global gradient norm before clipping", "1", "sqrt of the sum over all parameters")
        out["global_norm_clipped"] = VarMeta((), "global gradient norm after clipping", "1", "as applied by the step")
        out["loss_scale"] = VarMeta((), "AMP loss scale", "1", "1.0 without a gradient scaler")
        return out

    def after_backward(self, model: torch.nn.Module) -> None:
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        if len(grads) != len(list(model.parameters())):  # unused parameters: zero gradient, not missing
            grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}
        self._pending = _numpy(frobenius_by_site(grads, model.cfg.n_heads))

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray] | None:
        if self._pending is None:  # step 0, or resumed straight onto a record step: no gradient seen
            return None
        out, self._pending = self._pending, None
        s = ctx.state
        out["global_norm"] = to_numpy(float(s.grad_norm))
        out["global_norm_clipped"] = to_numpy(float(s.grad_norm_clipped))
        out["loss_scale"] = to_numpy(float(getattr(s, "loss_scale", 1.0)))
        return out


class UpdateRatioRecorder(GroupRecorder):
    """`||W_after - W_before||_F / ||W_before||_F` per site for the optimizer step that ends at the record step."""

    group = "update_ratio"
    description = "relative size of the record step's parameter update (none at step 0)"
    replayable = False

    def __init__(self) -> None:
        self._before: dict[str, torch.Tensor] | None = None

    def variables(self, model, probe) -> dict[str, VarMeta]:
        return site_variables(model, "update ratio", "1", "||W_after - W_before||_F / ||W_before||_F over one step; NaN where W_before = 0")

    def after_backward(self, model: torch.nn.Module) -> None:
        self._before = {n: p.detach().clone() for n, p in model.named_parameters()}  # snapshot, only on record steps

    def measure(self, ctx: RecordContext) -> dict[str, np.ndarray] | None:
        if self._before is None:
            return None
        before, self._before = self._before, None
        after = _params(ctx.model)
        delta = frobenius_by_site({n: after[n].float() - w.float() for n, w in before.items()}, ctx.n_heads)
        base = frobenius_by_site(before, ctx.n_heads)
        # A tensor that was all zero (a bias at initialisation) has no relative update: NaN, not inf.
        return {k: to_numpy(torch.where(base[k] > 0, delta[k] / base[k].clamp_min(1e-30), torch.nan)) for k in delta}
