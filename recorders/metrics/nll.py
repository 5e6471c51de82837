"""Next-token losses per item on a chosen set of positions: the quantity the causal metrics change.

Position i predicts token i+1, so a sequence of T tokens has T-1 predictions. `repeat_positions`
picks the predictions an induction head can make on `probe/induction_tokens` (a span of n random
tokens repeated once): positions i = n .. 2n-2, where token i occurred at i-n and the token after
it, i-n+1, is the answer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["token_nll", "item_loss", "repeat_positions"]


def token_nll(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each prediction in nats: logits (B, T, V), tokens (B, T) -> (B, T-1), float32."""
    pred = logits[:, :-1].float()
    return F.cross_entropy(pred.flatten(0, 1), tokens[:, 1:].flatten(), reduction="none").view(tokens.size(0), -1)


def item_loss(nll: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of (B, T-1) losses over the predictions in `positions` (bool (T-1,); all when None) -> (B,)."""
    return nll.mean(-1) if positions is None else nll[:, positions].mean(-1)


def repeat_positions(n_tokens: int, span: int) -> torch.Tensor:
    """Bool (n_tokens-1,): the predictions i = span .. 2*span-2 of a span repeated once.

    >>> repeat_positions(8, 3).nonzero().flatten().tolist()  # tokens a b c a b c x y: 'a'@3 -> b, 'b'@4 -> c
    [3, 4]
    """
    if span < 2 or 2 * span > n_tokens:
        raise ValueError(f"repeat span {span} does not fit twice in {n_tokens} tokens (need span >= 2)")
    mask = torch.zeros(n_tokens - 1, dtype=torch.bool)
    mask[span : 2 * span - 1] = True
    return mask
