"""Text generation: sample continuations of a token sequence from a GPT, one token at a time.

Each step turns the model's next-token logits into a distribution and draws from it. The steps are
the usual ones (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration"; Keskar et
al. 2019, CTRL), applied in the order Hugging Face transformers applies them:

1. repetition penalty: every token already in the sequence (prompt included) has its logit
   divided by the penalty when positive and multiplied by it when negative (CTRL, section 4.1);
2. temperature: logits divided by T (T = 0 means greedy: always the most probable token);
3. top-k: only the k most probable tokens stay;
4. top-p (nucleus): the smallest set of most probable tokens whose probability reaches p stays,
   so the token whose probability crosses p is kept;
5. a draw by inverse-transform sampling from the renormalised probabilities.

Everything here is pure over the model and token ids: no tokenizer, no files. Padded vocabulary
rows (ids >= `cfg.d_vocab`), and ids past a smaller tokenizer's vocabulary, are never produced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from seedling.model import GPT, KVCache

__all__ = [
    "apply_repetition_penalty",
    "check_sampling_args",
    "draw",
    "generate",
    "top_k_filter",
    "top_p_filter",
]

log = logging.getLogger(__name__)


def apply_repetition_penalty(logits: torch.Tensor, seen: Sequence[int], penalty: float) -> torch.Tensor:
    """Discourage tokens already in the sequence (CTRL / Hugging Face semantics). logits: (vocab,).

    For each distinct seen token i: l_i / penalty if l_i > 0, else l_i * penalty. A penalty above 1
    lowers a seen token's probability whatever its sign; 1 changes nothing.

    >>> apply_repetition_penalty(torch.tensor([2.0, -2.0, 1.0]), [0, 1], 2.0).tolist()
    [1.0, -4.0, 1.0]
    """
    if penalty == 1.0 or len(seen) == 0:
        return logits
    idx = torch.tensor(sorted(set(seen)), device=logits.device)
    picked = logits[idx]
    out = logits.clone()
    out[idx] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return out


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits, set the rest to -inf. Ties at the k-th value are all kept.

    >>> top_k_filter(torch.tensor([1.0, 3.0, 2.0]), 2).tolist()
    [-inf, 3.0, 2.0]
    """
    if k >= logits.numel():
        return logits
    kth = torch.topk(logits, k).values[-1]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most probable tokens until their total probability reaches p.

    A token is kept when the probability of the tokens ranked above it is still below p, so the
    token that crosses p is kept and at least one token always is. p = 1 keeps everything.

    >>> top_p_filter(torch.log(torch.tensor([0.5, 0.1, 0.4])), 0.6).exp().tolist()  # 0.5 + 0.4 crosses 0.6
    [0.5, 0.0, 0.4000000059604645]
    """
    if p >= 1.0:
        return logits
    probs, order = torch.sort(torch.softmax(logits.double(), dim=-1), descending=True)
    mass_above = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked higher
    drop = torch.zeros_like(logits, dtype=torch.bool)
    drop[order] = mass_above >= p
    return logits.masked_fill(drop, float("-inf"))


def draw(logits: torch.Tensor, generator: torch.Generator) -> int:
    """Inverse-transform sampling: one u ~ U(0, 1), the first token whose cumulative probability exceeds u.

    One uniform number per token, so two runs with the same seed draw the same tokens whenever
    their probabilities agree (e.g. with and without the KV cache).
    """
    cdf = torch.cumsum(torch.softmax(logits.detach().double().cpu(), dim=-1), dim=-1)
    u = torch.rand((), generator=generator, dtype=torch.float64) * cdf[-1]
    return int(torch.searchsorted(cdf, u, right=True).clamp(max=cdf.numel() - 1))


def check_sampling_args(
    max_new_tokens: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
) -> None:
    """Raise ValueError naming the first setting outside its accepted range."""
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
    if not temperature >= 0:
        raise ValueError(f"temperature={temperature} must be >= 0 (0 = greedy)")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k} must be a positive integer or unset")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p} must be in (0, 1] or unset")
    if not repetition_penalty > 0:
        raise ValueError(f"repetition_penalty={repetition_penalty} must be > 0 (1 = no penalty)")


@torch.no_grad()
def generate(
    model: GPT,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    repetition_penalty: float = 1.0,
    seed: int | None = None,
    use_cache: bool = True,
    stop_at_eot: int | None = None,
    vocab_size: int | None = None,
) -> list[int]:
    """Continue `prompt_ids` by up to `max_new_tokens` tokens; return the new token ids only.

    `stop_at_eot` is the end-of-text token id: generation stops when the model produces it, and
    it is left out of the result (so a result shorter than `max_new_tokens` means it stopped
    there). `vocab_size` limits the ids that can be produced to [0, vocab_size): pass the
    tokenizer's size when it is smaller than the model's `d_vocab` (default: `d_vocab`; padded
    rows are never produced). `seed` fixes the draws; None draws a fresh seed. The model runs in eval mode (dropout
    off) and is put back in the mode it was in.

    Context: the model sees at most its last `n_ctx` tokens. A longer prompt is cut to its end;
    past `n_ctx`, the window slides one token per step. Learned positions shift when the window
    slides, so cached keys go stale: with the cache each step past `n_ctx` then recomputes the
    window, and cached and uncached generation see exactly the same context at every step.
    """
    check_sampling_args(max_new_tokens, temperature, top_k, top_p, repetition_penalty)
    cfg = model.cfg
    n_vocab = cfg.d_vocab if vocab_size is None else vocab_size
    if not 0 < n_vocab <= cfg.d_vocab_padded:
        raise ValueError(f"vocab_size={vocab_size} must be in [1, {cfg.d_vocab_padded}] (the model's padded vocabulary)")
    if isinstance(prompt_ids, torch.Tensor) and prompt_ids.dim() != 1:
        raise ValueError(f"prompt_ids must be one sequence of token ids, shape (pos,); got shape {tuple(prompt_ids.shape)}")
    ids = [int(t) for t in prompt_ids]
    if not ids:
        raise ValueError("the prompt is empty; give at least one token (e.g. the end-of-text token)")
    bad = [t for t in ids if not 0 <= t < n_vocab]
    if bad:
        raise ValueError(f"prompt token id {bad[0]} is outside the vocabulary [0, {n_vocab})")
    if len(ids) > cfg.n_ctx:
        log.info("prompt of %d tokens is longer than n_ctx=%d; the model sees its last %d", len(ids), cfg.n_ctx, cfg.n_ctx)
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        new: list[int] = []
        cache, pending = None, ids[-cfg.n_ctx :]  # pending: tokens the cache has not seen yet
        for _ in range(max_new_tokens):
            if use_cache:
                if cache is None or cache.length + len(pending) > cfg.n_ctx:
                    cache, pending = KVCache(cfg), ids[-cfg.n_ctx :]
                logits = model(torch.tensor([pending], device=device), kv_cache=cache)[0, -1]
            else:
                logits = model(torch.tensor([ids[-cfg.n_ctx :]], device=device))[0, -1]
            token = _choose(logits[:n_vocab], ids, temperature, top_k, top_p, repetition_penalty, generator)
            if token == stop_at_eot:
                break
            ids.append(token)
            new.append(token)
            pending = [token]
        return new
    finally:
        model.train(was_training)


def _choose(logits, seen, temperature, top_k, top_p, penalty, generator) -> int:
    logits = apply_repetition_penalty(logits.float(), seen, penalty)
    if temperature == 0:
        return int(torch.argmax(logits))
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return draw(logits, generator)
