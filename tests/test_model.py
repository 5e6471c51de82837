"""The GPT: attention paths agree, hook names are pinned and scoped, initialisation is as specified."""

import math

import pytest
import torch

from seedling import GPT, preset

SMALL = ["model.n_layers=2", "model.n_heads=4", "model.d_model=32", "model.n_ctx=16", "model.d_vocab=50"]


def small_model(*extra: str, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(preset("tiny", [*SMALL, *extra]).model)


def tokens(model: GPT, batch: int = 3, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.cfg.d_vocab, (batch, model.cfg.n_ctx), generator=g)


def test_logits_shape_and_loss():
    model = small_model()
    x = tokens(model)
    logits = model(x)
    assert logits.shape == (3, 16, 50)
    logits2, loss = model(x, x)
    assert torch.equal(logits, logits2)
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 50), x.reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    # Untrained: loss near ln(vocab), since the small init makes logits nearly uniform.
    assert abs(loss.item() - math.log(50)) < 0.1


def test_ignore_index_and_sum_reduction():
    model = small_model()
    x = tokens(model)
    y = x.clone()
    y[:, :5] = -1
    _, mean = model(x, y)
    _, total = model(x, y, reduction="sum")
    assert total.item() == pytest.approx(mean.item() * (y != -1).sum().item(), rel=1e-5)


def _grads(model: GPT) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("dropout", [0.0])
def test_fused_and_explicit_attention_agree(dropout):
    """The explicit path (taken when a pattern hook is attached) equals the fused kernel."""
    model = small_model(f"model.dropout={dropout}")
    x = tokens(model)
    _, loss_fast = model(x, x)
    loss_fast.backward()
    g_fast = _grads(model)
    model.zero_grad()
    seen = []
    with model.hooks([(lambda n: n.endswith("hook_pattern"), lambda t, n: seen.append(n))]):
        logits_slow, loss_slow = model(x, x)
        loss_slow.backward()
    assert seen == ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"]
    assert abs(loss_fast.item() - loss_slow.item()) <= 1e-5
    assert torch.allclose(model(x), logits_slow, atol=1e-5)
    for name, g in _grads(model).items():
        assert torch.allclose(g, g_fast[name], atol=1e-5), name


def test_pattern_is_causal_and_normalised():
    model = small_model()
    x = tokens(model)
    pats = {}
    with model.hooks([("blocks.1.attn.hook_pattern", lambda t, n: pats.setdefault(n, t))]):
        model(x)
    p = pats["blocks.1.attn.hook_pattern"]
    assert p.shape == (3, 4, 16, 16)  # (batch, head_index, query_pos, key_pos)
    assert torch.allclose(p.sum(-1), torch.ones(3, 4, 16), atol=1e-6)
    assert torch.all(p.triu(diagonal=1) == 0)


EXPECTED_HOOKS = ["hook_embed", "hook_pos_embed"] + [
    f"blocks.{layer}.{site}"
    for layer in range(2)
    for site in (
        "hook_resid_pre", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z", "hook_attn_out",
        "hook_resid_mid", "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post",
    )
] + ["ln_final.hook_normalized"]


def test_hook_names_are_pinned():
    assert sorted(small_model().hook_points) == sorted(EXPECTED_HOOKS)


def test_every_hook_fires_with_documented_shapes():
    model = small_model()
    x = tokens(model, batch=2)
    shapes = {}
    with model.hooks([(lambda n: True, lambda t, n: shapes.__setitem__(n, tuple(t.shape)))]):
        model(x)
    assert set(shapes) == set(EXPECTED_HOOKS)
    assert shapes["blocks.0.attn.hook_z"] == (2, 16, 4, 8)  # (batch, pos, head_index, d_head)
    assert shapes["blocks.0.mlp.hook_post"] == (2, 16, 128)  # (batch, pos, d_mlp)
    assert shapes["blocks.1.hook_resid_post"] == (2, 16, 32)


def test_hooks_are_scoped_even_on_error():
    model = small_model()
    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks([("blocks.0.hook_resid_pre", lambda t, n: None)]):
            assert model.hook_points["blocks.0.hook_resid_pre"].active
            raise RuntimeError("boom")
    assert not any(hp.active for hp in model.hook_points.values())


def test_unknown_hook_name_is_a_clear_error():
    model = small_model()
    with pytest.raises(KeyError, match="no hook point named 'blocks.0.hook_typo'"):
        with model.hooks([("blocks.0.hook_typo", lambda t, n: None)]):
            pass


def test_hook_can_replace_activation():
    model = small_model()
    x = tokens(model)
    with model.hooks([("blocks.1.hook_resid_post", lambda t, n: torch.zeros_like(t))]):
        logits = model(x)
    # Zero residual -> LayerNorm outputs its bias (zero at init) -> all logits zero.
    assert torch.allclose(logits, torch.zeros_like(logits), atol=1e-6)


def test_embeddings_are_tied():
    model = small_model()
    names = [n for n, _ in model.named_parameters()]
    assert "wte.weight" in names and not any("lm_head" in n for n in names)
    x = tokens(model)
    model(x, x)[1].backward()
    assert model.wte.weight.grad is not None


def test_seedling_init():
    torch.manual_seed(0)
    model = GPT(preset("tiny", ["model.d_model=256", "model.n_heads=4", "model.d_vocab=4096"]).model)
    params = dict(model.named_parameters())
    std = lambda n: params[n].std().item()  # noqa: E731
    assert std("wte.weight") == pytest.approx(0.005, rel=0.05)
    assert std("wpe.weight") == pytest.approx(0.005, rel=0.05)  # on purpose, not zero as in the original
    assert std("blocks.0.attn.qkv.weight") == pytest.approx(math.sqrt(1 / (256 + 768)), rel=0.05)
    assert std("blocks.0.mlp.fc_out.weight") == pytest.approx(math.sqrt(1 / (1024 + 256)), rel=0.05)
    assert params["blocks.0.attn.qkv.bias"].abs().max() == 0
    assert torch.all(params["blocks.0.ln1.weight"] == 1)


def test_gpt2_init():
    torch.manual_seed(0)
    model = GPT(preset("tiny", ["model.d_model=256", "model.init=gpt2", "model.n_layers=4"]).model)
    params = dict(model.named_parameters())
    assert params["wte.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert params["blocks.0.mlp.fc_in.weight"].std().item() == pytest.approx(0.02, rel=0.05)
    assert params["blocks.0.attn.out.weight"].std().item() == pytest.approx(0.02 / math.sqrt(8), rel=0.05)


def test_seedling_preset_parameter_count():
    cfg = preset("seedling").model
    with torch.device("meta"):
        model = GPT(cfg)
    assert model.num_params() == 51_344_384  # ~51.3M, as published
    padded = preset("seedling", ["model.pad_vocab_multiple=64"]).model
    assert padded.d_vocab_padded == 50_048


def test_too_long_sequence_is_a_clear_error():
    model = small_model()
    with pytest.raises(ValueError, match="exceeds the model's context n_ctx=16"):
        model(torch.zeros(1, 17, dtype=torch.long))
