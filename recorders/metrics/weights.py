"""Weight, gradient and update metrics: Frobenius norms per parameter, per-head slice norms and spectra per matrix.

Places follow the store's schema 2: a parameter is a `site` (its `named_parameters()` name); a
per-layer weight matrix is a (`matrix`, `layer`) pair, with TransformerLens's names W_Q, W_K,
W_V (rows of `attn.qkv.weight`), W_O (columns of `attn.out.weight`) and W_in, W_out (the MLP's
`fc_in.weight`, `fc_out.weight`). Each function does one fused computation and returns one
tensor, so a record step makes a handful of kernel calls and one device-to-host copy per group,
not one per parameter.
"""

from __future__ import annotations

import torch

__all__ = ["MATRICES", "HEAD_MATRICES", "site_norms", "head_slice_norms", "layer_matrices", "spectra"]

# Attention projections with a head axis, then the MLP matrices (no heads).
HEAD_MATRICES = ("W_Q", "W_K", "W_V", "W_O")
MATRICES = (*HEAD_MATRICES, "W_in", "W_out")


def site_norms(tensors: list[torch.Tensor]) -> torch.Tensor:
    """`||W||_F` of each tensor, as one float32 tensor (n_sites,). Units of W. Implementation level.

    One fused call (`torch._foreach_norm`) over all tensors; serves weights, gradients and updates.

    >>> site_norms([torch.tensor([3.0, 4.0]), torch.ones(2, 2)]).tolist()
    [5.0, 2.0]
    """
    if not tensors:
        return torch.zeros(0)
    return torch.stack(torch._foreach_norm([t.detach().float() for t in tensors])).float()


def layer_matrices(params: dict[str, torch.Tensor], n_layers: int) -> dict[str, list[torch.Tensor]]:
    """{matrix: [one tensor per layer]} views of W_Q, W_K, W_V (d_model, d_model), W_O, W_in, W_out.

    `attn.qkv.weight` is (3D, D): rows [0:D] are W_Q, [D:2D] W_K, [2D:3D] W_V (nn.Linear's
    (out, in) layout, so head h owns rows h*d_head:(h+1)*d_head of each); `attn.out.weight` is
    (D, D) and head h owns its columns h*d_head:(h+1)*d_head.
    """
    out: dict[str, list[torch.Tensor]] = {m: [] for m in MATRICES}
    for layer in range(n_layers):
        qkv = params[f"blocks.{layer}.attn.qkv.weight"]
        for key, part in zip(("W_Q", "W_K", "W_V"), qkv.chunk(3, dim=0), strict=True):
            out[key].append(part)
        out["W_O"].append(params[f"blocks.{layer}.attn.out.weight"])
        out["W_in"].append(params[f"blocks.{layer}.mlp.fc_in.weight"])
        out["W_out"].append(params[f"blocks.{layer}.mlp.fc_out.weight"])
    return out


def head_slice_norms(mats: dict[str, list[torch.Tensor]], n_heads: int) -> torch.Tensor:
    """Frobenius norm of each head's slice: (matrix, layer, head_index) over MATRICES, NaN for W_in/W_out.

    For W_Q/W_K/W_V head h's slice is its d_head rows; for W_O its d_head columns (the part of
    the output projection that reads head h). The MLP matrices have no heads (NaN). Units of W.

    >>> w = {m: [torch.ones(4, 4)] for m in MATRICES}
    >>> head_slice_norms(w, n_heads=2)[:, 0].tolist()[0], head_slice_norms(w, 2)[4, 0, 0].isnan().item()
    ([2.8284270763397217, 2.8284270763397217], True)
    """
    n_layers = len(mats["W_Q"])
    out = torch.full((len(MATRICES), n_layers, n_heads), float("nan"))
    rows = []
    for key in ("W_Q", "W_K", "W_V"):
        w = torch.stack([m.detach().float() for m in mats[key]])  # (L, D, D): head h = rows h*dh:(h+1)*dh
        rows.append(torch.linalg.vector_norm(w.unflatten(1, (n_heads, -1)), dim=(2, 3)))  # (L, nh)
    w_o = torch.stack([m.detach().float() for m in mats["W_O"]])  # (L, D, D): head h = columns
    rows.append(torch.linalg.vector_norm(w_o.unflatten(2, (n_heads, -1)), dim=(1, 3)))  # (L, nh)
    out[: len(HEAD_MATRICES)] = torch.stack(rows).cpu()
    return out


def spectra(mats: dict[str, list[torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(sigma_max, stable_rank), each (matrix, layer), over MATRICES. Implementation level.

    sigma_max = s_1 = ||W||_2, the largest singular value (units of W); stable rank =
    ||W||_F^2 / ||W||_2^2 = sum_k s_k^2 / s_1^2, dimensionless, in [1, rank W] (Rudelson &
    Vershynin 2007). Both need only the largest eigenvalue of the Gram matrix G = W^T W (or W W^T,
    whichever is smaller; s_1^2 = lambda_max(G), ||W||_F^2 = trace(G)), so one batched symmetric
    eigenvalue call over every matrix of the same size replaces a full SVD per matrix (about 2 x
    cheaper on CPU). float32: lambda_max is accurate to about 1e-6 relative.

    >>> m = {k: [torch.diag(torch.tensor([3.0, 1.0]))] for k in MATRICES}
    >>> [round(float(v), 4) for v in (spectra(m)[0][0, 0], spectra(m)[1][0, 0])]
    [3.0, 1.1111]
    """
    grams: list[torch.Tensor] = []
    for key in MATRICES:
        for w in mats[key]:
            w = w.detach().float()
            grams.append(w.mT @ w if w.size(0) >= w.size(1) else w @ w.mT)
    by_size: dict[int, list[int]] = {}
    for i, g in enumerate(grams):
        by_size.setdefault(g.size(0), []).append(i)
    top = torch.empty(len(grams), device=grams[0].device)
    for idx in by_size.values():  # one batched call per Gram size (all d_model x d_model in this model)
        top[idx] = torch.linalg.eigvalsh(torch.stack([grams[i] for i in idx]))[:, -1]
    trace = torch.stack([g.diagonal().sum() for g in grams])
    n_layers = len(mats[MATRICES[0]])
    sigma = top.clamp_min(0).sqrt().view(len(MATRICES), n_layers)
    rank = (trace / top).view(len(MATRICES), n_layers)
    return sigma.cpu(), rank.cpu()
