"""Attention metrics: entropy and the head scores of Olsson et al. 2022, from a pattern (B, nh, T, T).

All functions take one layer's attention pattern `A[b, h, i, j]` (query i, key j, causal, rows sum
to 1) and return per-item values of shape (batch, head_index); average over the batch for the head
value. Query 0 sees only itself, so every score here averages over queries i >= 1 (stated in the
store's `reduction` attribute).
"""

from __future__ import annotations

import torch

__all__ = ["entropy", "entropy_normalized", "previous_token_score", "first_token_score", "induction_score"]


def entropy(pattern: torch.Tensor) -> torch.Tensor:
    """Mean attention entropy per item and head, in nats: (B, nh, T, T) -> (B, nh).

    `H[b,h,i] = -sum_j A[b,h,i,j] ln A[b,h,i,j]`, averaged over queries i = 1..T-1 (query 0 has one
    visible key and entropy 0, so it is excluded). Computational level: how spread a head's
    attention is. Zhai et al. 2023, "Stabilizing Transformer Training by Preventing Attention
    Entropy Collapse".

    >>> A = torch.tensor([[1.0, 0.0], [0.5, 0.5]]).expand(1, 1, 2, 2)
    >>> round(float(entropy(A)), 4)  # ln 2
    0.6931
    """
    h = _entropy_per_query(pattern)  # (B, nh, T)
    return h[..., 1:].mean(-1)


def entropy_normalized(pattern: torch.Tensor) -> torch.Tensor:
    """Mean normalised entropy `H[b,h,i] / ln(i+1)` over queries i = 1..T-1: (B, nh, T, T) -> (B, nh), in [0, 1].

    0: the head looks at one token; 1: it spreads evenly over all i+1 visible keys. Computational
    level. Zhai et al. 2023; normalisation by the number of visible keys (docs/recorders.md).

    >>> A = torch.tensor([[1.0, 0.0], [0.5, 0.5]]).expand(1, 1, 2, 2)
    >>> float(entropy_normalized(A))
    1.0
    """
    h = _entropy_per_query(pattern)[..., 1:]  # (B, nh, T-1)
    visible = torch.arange(2, pattern.size(-1) + 1, device=pattern.device, dtype=h.dtype)  # i+1 for i >= 1
    return (h / visible.log()).mean(-1)


def previous_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """Previous-token score: mean over queries i >= 1 of `A[b,h,i,i-1]`: (B, nh, T, T) -> (B, nh), probability.

    1 for a head that always attends to the token before the query. Algorithmic level (the first
    half of an induction circuit). Olsson et al. 2022, "In-context Learning and Induction Heads".

    >>> A = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).expand(1, 1, 2, 2)
    >>> float(previous_token_score(A))
    1.0
    """
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def first_token_score(pattern: torch.Tensor) -> torch.Tensor:
    """First-token (attention-sink) score: mean over queries i >= 1 of `A[b,h,i,0]`: (B, nh, T, T) -> (B, nh).

    1 for a head that parks all attention on position 0. Implementation level. Xiao et al. 2023,
    "Efficient Streaming Language Models with Attention Sinks"; as a head score, Olsson et al. 2022.

    >>> A = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).expand(1, 1, 2, 2)
    >>> float(first_token_score(A))
    1.0
    """
    return pattern[..., 1:, 0].mean(-1)


def induction_score(pattern: torch.Tensor, span: int, start: int = 0) -> torch.Tensor:
    """Induction (prefix-matching) score on a repeated sequence: (B, nh, T, T) -> (B, nh), probability.

    The tokens at positions `start .. start+span-1` are repeated at `start+span .. start+2*span-1`.
    A query i in the repeat should attend to the key right after the earlier occurrence of its
    token, `i - span + 1`; the score is the mean of `A[b,h,i,i-span+1]` over the queries of the
    repeat. 1 for a perfect induction head, 0 for a previous-token head. Algorithmic level.
    Olsson et al. 2022 (the stripe form used by TransformerLens).

    >>> T, n = 4, 2  # tokens x y x y: query 2 -> key 1, query 3 -> key 2
    >>> A = torch.zeros(1, 1, T, T); A[0, 0, 0, 0] = A[0, 0, 1, 0] = A[0, 0, 2, 1] = A[0, 0, 3, 2] = 1.0
    >>> float(induction_score(A, span=n))
    1.0
    """
    if span < 1 or start + 2 * span > pattern.size(-1):
        raise ValueError(f"induction span {span} from {start} does not fit in {pattern.size(-1)} positions")
    stripe = pattern.diagonal(offset=-(span - 1), dim1=-2, dim2=-1)  # A[i, i-span+1] at index i-span+1
    first = start + 1  # query start+span -> key start+1
    return stripe[..., first : first + span].mean(-1)


def _entropy_per_query(pattern: torch.Tensor) -> torch.Tensor:
    """`-sum_j A ln A` per query (B, nh, T), in float64 to keep 0 ln 0 = 0 and small rows exact."""
    p = pattern.double()
    return -(p * p.clamp_min(1e-300).log()).sum(-1)

