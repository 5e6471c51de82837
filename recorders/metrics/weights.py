"""Weight, gradient and update metrics per site: Frobenius norms (per head where heads exist) and spectra.

Sites follow docs/architecture.md: every parameter by its `named_parameters()` name, plus the
per-head projections `blocks.{l}.attn.W_Q`, `W_K`, `W_V` (rows of `attn.qkv.weight`) and `W_O`
(columns of `attn.out.weight`), TransformerLens's names.
"""

from __future__ import annotations

import re

import torch

__all__ = ["head_matrices", "frobenius_by_site", "spectral_sites", "spectral_by_site"]

_QKV = re.compile(r"^(blocks\.\d+\.attn)\.qkv\.weight$")
_OUT = re.compile(r"^(blocks\.\d+\.attn)\.out\.weight$")
_MLP = re.compile(r"^blocks\.\d+\.mlp\.fc_(in|out)\.weight$")


def head_matrices(params: dict[str, torch.Tensor], n_heads: int) -> dict[str, torch.Tensor]:
    """Per-head views (nh, d_head, d_model) of W_Q, W_K, W_V and (nh, d_model, d_head) of W_O.

    `attn.qkv.weight` is (3D, D): rows [0:D] are W_Q, [D:2D] W_K, [2D:3D] W_V; head h owns rows
    h*d_head:(h+1)*d_head of each. `attn.out.weight` is (D, D); head h owns those columns.
    """
    out: dict[str, torch.Tensor] = {}
    for name, w in params.items():
        if m := _QKV.match(name):
            D = w.size(1)
            for part, key in zip(w.split(D, dim=0), ("W_Q", "W_K", "W_V"), strict=True):
                out[f"{m.group(1)}.{key}"] = part.reshape(n_heads, D // n_heads, D)
        elif m := _OUT.match(name):
            D = w.size(0)
            out[f"{m.group(1)}.W_O"] = w.reshape(D, n_heads, D // n_heads).transpose(0, 1)
    return out


def frobenius_by_site(params: dict[str, torch.Tensor], n_heads: int) -> dict[str, torch.Tensor]:
    """`||W||_F` for every tensor (scalar) and per head for W_Q/W_K/W_V/W_O (shape (nh,)). Units of W.

    The same function serves weights, gradients and weight updates (pass the differences).
    Implementation level. Frobenius norm: sqrt(sum_ij W_ij^2).

    >>> frobenius_by_site({"x": torch.tensor([3.0, 4.0])}, n_heads=1)["x"]
    tensor(5.)
    """
    out = {name: torch.linalg.vector_norm(w.detach().float()) for name, w in params.items()}
    for name, w in head_matrices(params, n_heads).items():
        out[name] = torch.linalg.vector_norm(w.detach().float(), dim=(1, 2))  # (nh,)
    return out


def spectral_sites(params: dict[str, torch.Tensor], n_heads: int) -> dict[str, torch.Tensor]:
    """The matrices whose spectra are recorded: W_Q/W_K/W_V (d_model x d_model, all heads), W_O, MLP weights."""
    sites: dict[str, torch.Tensor] = {}
    for name, w in params.items():
        if m := _QKV.match(name):
            for part, key in zip(w.split(w.size(1), dim=0), ("W_Q", "W_K", "W_V"), strict=True):
                sites[f"{m.group(1)}.{key}"] = part
        elif m := _OUT.match(name):
            sites[f"{m.group(1)}.W_O"] = w
        elif _MLP.match(name):
            sites[name] = w
    return sites


def spectral_by_site(params: dict[str, torch.Tensor], n_heads: int) -> dict[str, torch.Tensor]:
    """`<site>.sigma_max` and `<site>.stable_rank` (scalars) for each matrix of `spectral_sites`.

    sigma_max = s_1 = ||W||_2, the largest singular value (units of W); stable rank =
    ||W||_F^2 / ||W||_2^2 = sum_k s_k^2 / s_1^2, dimensionless, in [1, rank W] (Rudelson & Vershynin
    2007). Implementation level. One SVD per matrix, in float64.

    >>> s = spectral_by_site({"blocks.0.mlp.fc_in.weight": torch.diag(torch.tensor([3.0, 1.0]))}, n_heads=1)
    >>> [round(float(v), 4) for v in s.values()]
    [3.0, 1.1111]
    """
    out: dict[str, torch.Tensor] = {}
    for site, w in spectral_sites(params, n_heads).items():
        s = torch.linalg.svdvals(w.detach().double())
        out[f"{site}.sigma_max"] = s[0].float()
        out[f"{site}.stable_rank"] = ((s**2).sum() / s[0] ** 2).float()
    return out
