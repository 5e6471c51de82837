"""Composition scores between attention heads (Elhage et al. 2021), from the weights alone.

Convention (TransformerLens's): activations are row vectors, `x W` maps a residual vector x
(1 x D). For head h, with d_head = hs:

- `W_OV^h = W_V^h W_O^h` (D x D): the head writes `a W_OV^h` for the attention-weighted input a;
- `W_QK^h = W_Q^h W_K^h^T` (D x D): its score for query x_q and key x_k is `x_q W_QK^h x_k^T`.

A head A of an earlier layer writes `y W_OV^A` into the residual; a head B of a later layer
reads it through its queries, keys or values, which gives the three compositions:

- Q-composition `||W_OV^A W_QK^B||_F / (||W_OV^A||_F ||W_QK^B||_F)` (B's query reads A's output),
- K-composition `||W_OV^A W_QK^B^T||_F / (...)` (B's key reads A's output: the induction circuit),
- V-composition `||W_OV^A W_OV^B||_F / (...)` (B moves what A wrote).

LayerNorm: the gain of B's (and A's) input LayerNorm `ln1` is folded into the reading matrices
(`diag(gamma) W_Q`, `diag(gamma) W_K`, `diag(gamma) W_V`), as TransformerLens's `fold_ln` does;
the centring and the 1/sigma of LayerNorm and all biases are ignored. The scores are in [0, 1]
and are not 0 for unrelated heads: random Gaussian matrices of the same shapes score about
sqrt(hs / D)-ish values (`random_baseline` gives the null distribution to compare with).

Every matrix here has rank <= hs, so each is kept as factors `L R` (D x hs, hs x D) and the
Frobenius norms are computed in hs x hs form: `||L_A R_A L_B R_B||_F^2 = tr(M^T G_A M H_B)` with
`M = R_A L_B`, `G_A = L_A^T L_A`, `H_B = R_B R_B^T`, so the seedling size costs no D x D products.
"""

from __future__ import annotations

import torch

__all__ = ["KINDS", "head_factors", "composition_scores", "random_baseline", "frobenius_of_product"]

KINDS = ("q", "k", "v")  # the order of the `kind` dimension


def head_factors(model: torch.nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Factors (left (L, nh, D, hs), right (L, nh, hs, D)) of W_OV, W_QK and W_QK^T, ln1 gain folded in, float64.

    Keys "ov", "qk", "qk_t": e.g. `W_OV[l, h] = left[l, h] @ right[l, h]`.
    """
    cfg = model.cfg
    D, nh, hs = cfg.d_model, cfg.n_heads, cfg.d_head
    ov_l, ov_r, qk_l, qk_r = [], [], [], []
    for block in model.blocks:
        gamma = block.ln1.weight.detach().double()[:, None]  # (D, 1): diag(gamma) @ W
        # qkv.weight (3D, D): rows [0:D] W_Q, [D:2D] W_K, [2D:3D] W_V, head h's rows h*hs:(h+1)*hs of each;
        # as row-vector maps (x W), head h's W_Q^h is those rows transposed, (D, hs).
        w_q, w_k, w_v = (gamma * w.reshape(nh, hs, D).transpose(1, 2)
                         for w in block.attn.qkv.weight.detach().double().split(D, dim=0))  # (nh, D, hs)
        w_o = block.attn.out.weight.detach().double().reshape(D, nh, hs).permute(1, 2, 0)  # (nh, hs, D): columns of head h
        ov_l.append(w_v), ov_r.append(w_o), qk_l.append(w_q), qk_r.append(w_k)
    ov_l, ov_r, qk_l, qk_r = (torch.stack(x) for x in (ov_l, ov_r, qk_l, qk_r))  # (L, nh, ...)
    return {"ov": (ov_l, ov_r), "qk": (qk_l, qk_r.transpose(-1, -2)), "qk_t": (qk_r, qk_l.transpose(-1, -2))}


def frobenius_of_product(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """`||L_A R_A L_B R_B||_F` for factor pairs broadcast over leading dims (..., D, hs), (..., hs, D).

    >>> L = torch.eye(3)[:, :1]; R = torch.eye(3)[:1]  # e1 e1^T, norm 1
    >>> float(frobenius_of_product((L, R), (L, R)))
    1.0
    """
    (la, ra), (lb, rb) = a, b
    m = ra @ lb  # (..., hs, hs)
    g = la.transpose(-1, -2) @ la
    h = rb @ rb.transpose(-1, -2)
    sq = (m.transpose(-1, -2) @ g @ m * h).sum((-1, -2))  # tr(M^T G M H) = sum((M^T G M) * H^T), H symmetric
    return sq.clamp_min(0).sqrt()


def _frobenius(f: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    left, right = f
    g = left.transpose(-1, -2) @ left
    h = right @ right.transpose(-1, -2)
    return (g * h).sum((-1, -2)).clamp_min(0).sqrt()  # tr(G H)


def composition_scores(factors: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Scores (kind, src_layer, src_head, dst_layer, dst_head) for kind in KINDS; NaN unless src_layer < dst_layer.

    Unitless, in [0, 1]. Algorithmic level: how much a later head reads what an earlier head
    writes, through its query (q), key (k) or value (v). Elhage et al. 2021, "A Mathematical
    Framework for Transformer Circuits"; orientation in the module docstring.
    """
    ov = factors["ov"]
    n_layers, nh = ov[0].shape[:2]
    src = tuple(x[:, :, None, None] for x in ov)  # (L, nh, 1, 1, ...) against every destination
    out = torch.full((len(KINDS), n_layers, nh, n_layers, nh), float("nan"), dtype=torch.float64)
    norm_src = _frobenius(ov)[:, :, None, None]
    for i, key in enumerate(("qk", "qk_t", "ov")):  # q, k, v: which matrix of B follows W_OV^A
        dst = tuple(x[None, None] for x in factors[key])
        score = frobenius_of_product(src, dst) / (norm_src * _frobenius(factors[key])[None, None])
        later = torch.arange(n_layers)[:, None] < torch.arange(n_layers)[None, :]  # (src_layer, dst_layer)
        out[i] = torch.where(later[:, None, :, None], score, out[i])
    return out


def random_baseline(d_model: int, d_head: int, n: int = 200, seed: int = 0) -> torch.Tensor:
    """Scores (kind, n) of `n` pairs of heads with i.i.d. Gaussian W_Q, W_K, W_V, W_O of the model's shapes.

    The null distribution of `composition_scores`: what unrelated heads score (not 0). The scale
    of the Gaussian does not matter (the score is scale-free); seeded, so the same every time.
    """
    g = torch.Generator().manual_seed(seed)

    def factors():
        q, k, v = (torch.randn(n, d_model, d_head, generator=g, dtype=torch.float64) for _ in range(3))
        o = torch.randn(n, d_head, d_model, generator=g, dtype=torch.float64)
        return {"ov": (v, o), "qk": (q, k.transpose(-1, -2)), "qk_t": (k, q.transpose(-1, -2))}

    a, b = factors(), factors()
    return torch.stack([
        frobenius_of_product(a["ov"], b[key]) / (_frobenius(a["ov"]) * _frobenius(b[key]))
        for key in ("qk", "qk_t", "ov")
    ])
