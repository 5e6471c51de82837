"""Sampling: each filter on known logits, against Hugging Face's processors, and generate() end to end."""

import pytest
import torch
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from seedling import GPT, ModelConfig
from seedling.sampling import apply_repetition_penalty, generate, top_k_filter, top_p_filter
from tests.train_util import one_thread


@pytest.fixture(autouse=True)
def single_thread():
    """Token-by-token decoding of tiny models is dominated by thread hand-offs on a busy machine."""
    with one_thread():
        yield


def _known_logits_model(logits: list[float], pad_vocab_multiple: int = 1) -> GPT:
    """A real GPT whose next-token logits are `logits` at every position, whatever the input.

    ln_final's scale is 0 and its bias the unit vector e_0, so its output is e_0 everywhere and the
    tied head gives logits = wte[:, 0].
    """
    cfg = ModelConfig(n_layers=1, n_heads=2, d_model=8, n_ctx=16, d_vocab=len(logits), pad_vocab_multiple=pad_vocab_multiple)
    model = GPT(cfg).eval()
    with torch.no_grad():
        model.ln_final.weight.zero_()
        model.ln_final.bias.zero_()
        model.ln_final.bias[0] = 1.0
        model.wte.weight[:, 0] = -1e4  # padded rows, if any: far below everything
        model.wte.weight[: len(logits), 0] = torch.tensor(logits)
    return model


def _random_model() -> GPT:
    torch.manual_seed(0)
    model = GPT(ModelConfig(n_layers=2, n_heads=2, d_model=16, n_ctx=16, d_vocab=40)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return model


def test_top_p_keeps_exactly_the_crossing_token():
    logits = torch.log(torch.tensor([0.05, 0.5, 0.15, 0.3]))
    kept = lambda p: set(torch.isfinite(top_p_filter(logits, p)).nonzero().flatten().tolist())  # noqa: E731
    assert kept(0.4) == {1}  # 0.5 alone crosses 0.4
    assert kept(0.7) == {1, 3}  # 0.5 < 0.7, then 0.3 crosses it: kept
    assert kept(0.85) == {1, 3, 2}
    assert kept(0.99) == {0, 1, 2, 3}
    assert kept(1.0) == {0, 1, 2, 3}


def test_top_k_keeps_the_k_largest():
    out = top_k_filter(torch.tensor([1.0, 3.0, 2.0, 0.0]), 2)
    assert torch.isfinite(out).tolist() == [False, True, True, False]
    assert out[1] == 3.0 and out[2] == 2.0


def test_repetition_penalty_divides_positive_and_multiplies_negative():
    out = apply_repetition_penalty(torch.tensor([2.0, -2.0, 1.0, -1.0]), [0, 1, 0], 2.0)
    assert out.tolist() == [1.0, -4.0, 1.0, -1.0]


def test_filters_match_hugging_face_processors():
    g = torch.Generator().manual_seed(3)
    for _ in range(20):
        logits = torch.randn(1, 30, generator=g) * 3
        seen = torch.randint(0, 30, (1, 12), generator=g)
        ref = RepetitionPenaltyLogitsProcessor(1.7)(seen, logits.clone())
        torch.testing.assert_close(apply_repetition_penalty(logits[0], seen[0].tolist(), 1.7), ref[0])
        assert torch.equal(top_k_filter(logits[0], 7), TopKLogitsWarper(7)(seen, logits.clone())[0])
        ours = torch.isfinite(top_p_filter(logits[0], 0.8))
        assert torch.equal(ours, torch.isfinite(TopPLogitsWarper(0.8)(seen, logits.clone())[0]))


def test_generate_samples_only_inside_the_nucleus_and_all_of_it():
    model = _known_logits_model(torch.log(torch.tensor([0.05, 0.5, 0.15, 0.3])).tolist())
    out = generate(model, [0], 100, top_p=0.7, seed=0, use_cache=False)
    assert set(out) == {1, 3}
    out = generate(model, [0], 100, top_k=3, seed=0)
    assert set(out) == {1, 2, 3}


def test_greedy_with_repetition_penalty_follows_the_penalised_logits():
    # Logits 2.0, 1.5, -0.5, -3. Penalty 2: once seen, token 0 -> 1.0 and token 1 -> 0.75.
    model = _known_logits_model([2.0, 1.5, -0.5, -3.0])
    assert generate(model, [3], 4, temperature=0) == [0, 0, 0, 0]
    assert generate(model, [3], 4, temperature=0, repetition_penalty=2.0) == [0, 1, 0, 0]
    # A seen negative logit is multiplied: -0.5 * 4 = -2 stays above token 3's -3 * 4 = -12.
    model = _known_logits_model([-1.0, -0.5, -3.0])
    assert generate(model, [1], 2, temperature=0, repetition_penalty=4.0) == [0, 1]


def test_seed_reproducibility_and_cache_equivalence_past_the_context():
    model = _random_model()
    kw = dict(max_new_tokens=30, temperature=1.3, top_k=20, top_p=0.95, repetition_penalty=1.2)
    a = generate(model, [1, 2, 3], seed=7, **kw)
    assert len(a) == 30  # 3 + 30 > n_ctx=16: the window slid
    assert generate(model, [1, 2, 3], seed=7, **kw) == a
    assert generate(model, [1, 2, 3], seed=7, use_cache=False, **kw) == a
    assert generate(model, [1, 2, 3], seed=8, **kw) != a
    long_prompt = list(range(20))  # longer than n_ctx: cut to its last 16 tokens
    assert generate(model, long_prompt, 10, seed=1) == generate(model, long_prompt[-16:], 10, seed=1, use_cache=False)


def test_stops_at_eot_and_never_emits_padded_rows():
    model = _known_logits_model([0.0, 5.0, 1.0], pad_vocab_multiple=8)
    with torch.no_grad():
        model.wte.weight[7, 0] = 100.0  # a padded row with the largest logit
    assert model.cfg.d_vocab_padded == 8
    assert generate(model, [0], 5, temperature=0) == [1] * 5
    assert generate(model, [0], 5, temperature=0, stop_at_eot=1) == []


def test_generate_restores_training_mode_and_rejects_bad_settings():
    model = _random_model().train()
    generate(model, [1], 2, seed=0)
    assert model.training
    for bad, match in [
        (dict(temperature=-1), "temperature=-1"),
        (dict(top_k=0), "top_k=0"),
        (dict(top_p=1.5), "top_p=1.5"),
        (dict(repetition_penalty=0), "repetition_penalty=0"),
    ]:
        with pytest.raises(ValueError, match=match):
            generate(model, [1], 2, **bad)
    with pytest.raises(ValueError, match="empty"):
        generate(model, [], 2)
    with pytest.raises(ValueError, match="token id 40"):
        generate(model, [40], 2)
    with pytest.raises(ValueError, match=r"shape \(1, 2\)"):
        generate(model, torch.tensor([[1, 2]]), 2)
    assert generate(model, torch.tensor([1, 2]), 3, seed=0) == generate(model, [1, 2], 3, seed=0)
