"""The pure metrics against hand computations, scipy and numpy (docs/recorders.md, docs/analyses.md definitions)."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from recorders.metrics import attention as A
from recorders.metrics.activations import dead_fraction, moments
from recorders.metrics.weights import MATRICES, head_slice_norms, layer_matrices, site_norms, spectra


def random_pattern(B=3, H=2, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(B, H, T, T, generator=g).masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), -math.inf)
    return scores.softmax(-1)


def test_entropy_matches_explicit_loop_and_excludes_query_0():
    p = random_pattern()
    B, H, T, _ = p.shape
    want = np.zeros((B, H))
    want_n = np.zeros((B, H))
    for b in range(B):
        for h in range(H):
            hs = [-sum(float(p[b, h, i, j]) * math.log(float(p[b, h, i, j])) for j in range(i + 1)) for i in range(1, T)]
            want[b, h] = np.mean(hs)
            want_n[b, h] = np.mean([x / math.log(i + 1) for i, x in zip(range(1, T), hs, strict=True)])
    np.testing.assert_allclose(A.entropy(p).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(A.entropy_normalized(p).numpy(), want_n, rtol=1e-6)


def test_uniform_causal_attention_has_normalised_entropy_one():
    T = 9
    p = torch.ones(T, T).tril()
    p = (p / p.sum(-1, keepdim=True)).expand(2, 3, T, T)
    torch.testing.assert_close(A.entropy_normalized(p), torch.ones(2, 3, dtype=torch.float64))


def test_previous_first_token_scores_match_definitions():
    p = random_pattern()
    T = p.size(-1)
    prev = torch.stack([p[..., i, i - 1] for i in range(1, T)], -1).mean(-1)
    first = torch.stack([p[..., i, 0] for i in range(1, T)], -1).mean(-1)
    torch.testing.assert_close(A.previous_token_score(p), prev)
    torch.testing.assert_close(A.first_token_score(p), first)


def test_induction_score_is_one_for_an_induction_head_and_zero_for_previous_token_head():
    n, T = 5, 11  # repeat occupies positions 5..9; position 10 is an extra token
    induction = torch.zeros(1, 1, T, T)
    previous = torch.zeros(1, 1, T, T)
    induction[0, 0, 0, 0] = previous[0, 0, 0, 0] = 1
    for i in range(1, T):
        induction[0, 0, i, i - n + 1 if i >= n else 0] = 1
        previous[0, 0, i, i - 1] = 1
    assert float(A.induction_score(induction, n)) == 1.0
    assert float(A.induction_score(previous, n)) == 0.0
    p = random_pattern(T=T)
    want = torch.stack([p[..., i, i - n + 1] for i in range(n, 2 * n)], -1).mean(-1)
    torch.testing.assert_close(A.induction_score(p, n), want)
    with pytest.raises(ValueError, match="does not fit"):
        A.induction_score(p, 6)


def test_moments_match_scipy_excess_kurtosis():
    x = torch.randn(4, 6, 10, generator=torch.Generator().manual_seed(1)) ** 3
    m = moments(x)
    a = x.double().numpy().ravel()
    assert float(m["kurtosis"]) == pytest.approx(scipy.stats.kurtosis(a), rel=1e-5)  # Fisher, biased
    assert float(m["std"]) == pytest.approx(a.std(), rel=1e-5)
    assert float(m["rms"]) == pytest.approx(np.sqrt((a**2).mean()), rel=1e-5)
    assert float(m["max_abs"]) == pytest.approx(np.abs(a).max(), rel=1e-6)


def test_dead_fraction_counts_neurons_silent_everywhere():
    post = torch.tensor([[[0.2, -0.1, 0.0, 0.0]], [[-0.1, -0.1, 0.0, 3.0]]])  # (B=2, T=1, d_mlp=4)
    assert float(dead_fraction(post)) == 0.5  # neurons 1 and 2 never fire


def _one_layer(D, seed):
    g = torch.Generator().manual_seed(seed)
    return {"blocks.0.attn.qkv.weight": torch.randn(3 * D, D, generator=g),
            "blocks.0.attn.out.weight": torch.randn(D, D, generator=g),
            "blocks.0.mlp.fc_in.weight": torch.randn(4 * D, D, generator=g),
            "blocks.0.mlp.fc_out.weight": torch.randn(D, 4 * D, generator=g)}


def test_per_head_norms_are_the_architecture_slices():
    D, nh = 8, 2
    params = _one_layer(D, 2)
    norms = head_slice_norms(layer_matrices(params, 1), nh)  # (matrix, layer, head_index)
    qkv, out = params["blocks.0.attn.qkv.weight"], params["blocks.0.attn.out.weight"]
    hs = D // nh
    k, o, q = MATRICES.index("W_K"), MATRICES.index("W_O"), MATRICES.index("W_Q")
    for h in range(nh):
        assert float(norms[k, 0, h]) == pytest.approx(float(qkv[D + h * hs : D + (h + 1) * hs].norm()))
        assert float(norms[o, 0, h]) == pytest.approx(float(out[:, h * hs : (h + 1) * hs].norm()))
    assert float((norms[q, 0] ** 2).sum()) == pytest.approx(float(qkv[:D].norm() ** 2), rel=1e-5)
    assert torch.isnan(norms[MATRICES.index("W_in")]).all()  # the MLP has no heads


def test_site_norms_are_one_fused_frobenius_per_tensor():
    tensors = list(_one_layer(4, 5).values()) + [torch.zeros(3)]
    got = site_norms(tensors)
    assert got.shape == (5,) and got.dtype == torch.float32
    for t, n in zip(tensors, got):
        assert float(n) == pytest.approx(float(np.linalg.norm(t.numpy())), rel=1e-6)


def test_spectra_match_numpy():
    D = 6
    params = _one_layer(D, 3)
    sigma, rank = spectra(layer_matrices(params, 1))
    w_k = params["blocks.0.attn.qkv.weight"][D : 2 * D].double().numpy()
    sv = np.linalg.svd(w_k, compute_uv=False)
    k = MATRICES.index("W_K")
    assert float(sigma[k, 0]) == pytest.approx(sv[0], rel=1e-5)
    assert float(rank[k, 0]) == pytest.approx((sv**2).sum() / sv[0] ** 2, rel=1e-5)
    sv_in = np.linalg.svd(params["blocks.0.mlp.fc_in.weight"].double().numpy(), compute_uv=False)
    assert float(sigma[MATRICES.index("W_in"), 0]) == pytest.approx(sv_in[0], rel=1e-5)


def test_the_induction_probe_has_one_earlier_match_per_query_when_the_alphabet_allows():
    from recorders.probe import build_probe

    val = np.tile(np.arange(40), 50)  # 40 distinct ids in the validation stream
    probe = build_probe(n_items=6, length=64, d_vocab=2048, seed=3, n_sample=4, val_tokens=val)
    ind, span = probe.induction_tokens, probe.span
    np.testing.assert_array_equal(ind[:, :span], ind[:, span:2 * span])
    assert set(np.unique(ind)) <= set(range(40))
    # 40 ids >= span 32: every span is drawn without replacement
    assert all(len(np.unique(row[:span])) == span for row in ind)
    small = build_probe(n_items=6, length=64, d_vocab=2048, seed=3, n_sample=4, val_tokens=np.tile(np.arange(8), 50))
    assert all(len(np.unique(row[:span])) <= 8 for row in small.induction_tokens)  # too few ids: repeats allowed
