"""KV cache: incremental decoding equals a full forward, hooks still fire, the context limit holds."""

import pytest
import torch

from seedling import GPT, ModelConfig
from seedling.model import KVCache


def _model(init: str = "seedling") -> GPT:
    torch.manual_seed(0)
    cfg = ModelConfig(n_layers=2, n_heads=4, d_model=32, n_ctx=16, d_vocab=50, init=init)
    model = GPT(cfg).eval()
    # Larger weights than init so that attention is far from uniform and mistakes would show.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    return model


@pytest.mark.parametrize("chunks", [[1] * 10, [4, 1, 1, 3, 1], [10]])
def test_cached_decoding_matches_full_forward(chunks):
    model = _model()
    tokens = torch.randint(0, 50, (2, sum(chunks)), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(tokens)
        cache, pieces, start = KVCache(model.cfg), [], 0
        for n in chunks:
            pieces.append(model(tokens[:, start : start + n], kv_cache=cache))
            start += n
    assert cache.length == tokens.shape[1]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)


def test_hooks_fire_with_cache_and_patterns_match():
    model = _model()
    tokens = torch.randint(0, 50, (1, 7), generator=torch.Generator().manual_seed(2))
    seen = {}

    def keep(t, name):
        seen[name] = t.detach().clone()

    name = "blocks.1.attn.hook_pattern"
    with torch.no_grad():
        with model.hooks([(name, keep)]):
            full_logits = model(tokens)
        full_pattern = seen[name]  # (1, nh, 7, 7)
        cache = KVCache(model.cfg)
        model(tokens[:, :6], kv_cache=cache)
        with model.hooks([(name, keep), ("blocks.0.hook_resid_post", keep)]):
            last = model(tokens[:, 6:], kv_cache=cache)  # the explicit attention path with a cache
    assert seen[name].shape == (1, 4, 1, 7)  # one query position over all seven keys
    torch.testing.assert_close(seen[name][:, :, 0], full_pattern[:, :, 6], atol=1e-5, rtol=0)
    torch.testing.assert_close(last[:, 0], full_logits[:, 6], atol=1e-5, rtol=0)
    assert seen["blocks.0.hook_resid_post"].shape == (1, 1, 32)


def test_cache_cannot_grow_past_context():
    model = _model()
    cache = KVCache(model.cfg)
    with torch.no_grad():
        model(torch.zeros(1, 16, dtype=torch.long), kv_cache=cache)
        with pytest.raises(ValueError, match="16 cached"):
            model(torch.zeros(1, 1, dtype=torch.long), kv_cache=cache)
