"""The psychometric analyses on hand-computed and planted cases, and against the libraries called directly."""

import numpy as np
import pytest
from factor_analyzer import FactorAnalyzer
from statsmodels.multivariate.factor_rotation import rotate_factors

from recorders.psychometrics import (
    centred_cosine,
    cosine_matrix,
    daal_assignment,
    keyed_target,
    load_item_set,
    mantel_test,
    parallel_analysis,
    pseudo_factor_analysis,
    rmsr,
    semantic_alignment,
    structure_recovery,
    top_k_hit_rate,
    tucker_congruence,
)
from recorders.psychometrics.controls import analyse_layer, scrambled_dimensions, shuffled_labels


def planted(signal: float = 1.0, noise: float = 0.3, d: int = 64, offset: float = 0.0, seed: int = 0):
    """Embeddings of the planted item set: key_i * construct direction + noise (+ a common offset)."""
    items = load_item_set("planted")
    rng = np.random.default_rng(seed)
    X = signal * items.target() @ rng.standard_normal((5, d)) + noise * rng.standard_normal((50, d))
    return items, X + offset * rng.standard_normal(d)


def test_centred_cosine_removes_the_common_direction():
    items, X = planted(offset=30.0)  # anisotropic: a large shared direction, as in decoders
    raw, cen = cosine_matrix(X), centred_cosine(X)
    off = ~np.eye(50, dtype=bool)
    assert raw[off].min() > 0.8  # raw cosines near 1 say nothing
    T = keyed_target(items.constructs, items.keys)
    assert np.corrcoef(cen[off], T[off])[0, 1] > 0.9
    np.testing.assert_allclose(np.diag(cen), 1.0)


def test_keyed_target_by_hand():
    T = keyed_target(["a", "a", "b"], [1, -1, 1])
    assert T.tolist() == [[1, -1, 0], [-1, 1, 0], [0, 0, 1]]


def test_recovery_and_mantel_on_planted_and_null():
    items, X = planted()
    T = keyed_target(items.constructs, items.keys)
    rec = structure_recovery(centred_cosine(X), T, n_perm=199)
    assert rec["pearson"] > 0.9 and rec["spearman"] > 0.5 and rec["mantel_p"] == pytest.approx(1 / 200)
    null = np.random.default_rng(5).standard_normal((50, 64))
    r, p = mantel_test(centred_cosine(null), T, n_perm=199, seed=1)
    assert abs(r) < 0.1 and p > 0.05


def test_mantel_p_by_hand_for_three_items():
    # 3 items: the 6 item permutations permute the 3 pairs in all 6 ways; only the identity keeps r = 1,
    # the others give r < 1, so p = (1 + #identity draws) / 1000, about 1/6.
    A = np.array([[1, 0.9, 0.1], [0.9, 1, 0.2], [0.1, 0.2, 1]])
    r, p = mantel_test(A, A, n_perm=999, seed=0)
    assert r == pytest.approx(1.0) and abs(p - 1 / 6) < 0.04


def test_top3_hit_rate():
    items, X = planted()
    assert top_k_hit_rate(centred_cosine(X), items.constructs) == 1.0
    S = np.eye(4)
    S[0, 1] = S[1, 0] = -0.9  # a reverse-keyed neighbour counts
    S[2, 3] = S[3, 2] = 0.5
    assert top_k_hit_rate(S, ["a", "a", "b", "b"], k=1) == 1.0


def test_tucker_rmsr_daal_by_hand():
    assert tucker_congruence([1, 0], [0, 1]) == 0.0
    assert tucker_congruence([0.5, -0.5], [1, -1]) == pytest.approx(1.0)
    S = np.array([[1, 0.5], [0.5, 1]])
    assert rmsr(S, np.array([[0.6], [0.5]]), np.eye(1)) == pytest.approx(0.2)
    L = np.array([[0.8, 0.1, 0.6], [0.6, 0.0, 0.5], [0.1, 0.9, 0.1], [0.0, 0.7, 0.2]])
    daal, assigned, n = daal_assignment(L, [0, 0, 1, 1], 2)
    np.testing.assert_allclose(daal, [[0.7, 0.05], [0.05, 0.8], [0.55, 0.15]])
    # factors 0 and 2 both win domain 0: duplicate winners, so only domain 1 is recovered
    assert assigned.tolist() == [0, 1, 0] and n == 1
    assert daal_assignment(0.2 * np.ones((4, 2)), [0, 0, 1, 1], 2)[2] == 0  # below the 0.25 floor


def test_pseudo_factor_analysis_recovers_planted_domains_and_agrees_with_the_libraries():
    items, X = planted()
    S = centred_cosine(X)
    fr = pseudo_factor_analysis(S, items.target(), items.construct_index)
    assert fr.domains_recovered == 5 and fr.congruence.min() > 0.95 and fr.rmsr < 0.05
    assert fr.blind_domains_recovered == 5 and sorted(fr.blind_assigned) == [0, 1, 2, 3, 4]
    fa = FactorAnalyzer(n_factors=5, rotation=None, method="minres", is_corr_matrix=True, use_smc=False).fit(S)
    np.testing.assert_allclose(fr.unrotated, fa.loadings_, atol=1e-8)
    _, T0 = rotate_factors(fa.loadings_, "target", items.target(), "orthogonal", algorithm="analytic")
    L, T = rotate_factors(fa.loadings_, "target", items.target(), "oblique", T=T0)
    np.testing.assert_allclose(fr.loadings, L, atol=1e-6)
    np.testing.assert_allclose(fr.phi, T.T @ T, atol=1e-6)
    B, _ = rotate_factors(fa.loadings_, "oblimin", 0, "oblique")
    np.testing.assert_allclose(fr.blind_loadings, B, atol=1e-6)
    # the oblique rotation reproduces the same common part as the unrotated solution
    np.testing.assert_allclose(fr.loadings @ fr.phi @ fr.loadings.T, fa.loadings_ @ fa.loadings_.T, atol=1e-6)


def test_parallel_analysis_counts_planted_factors():
    _, X = planted()
    assert parallel_analysis(centred_cosine(X), d=64, n_random=20)["n_factors"] == 5
    null = np.random.default_rng(3).standard_normal((50, 64))
    assert parallel_analysis(centred_cosine(null), d=64, n_random=20)["n_factors"] <= 1


def test_semantic_alignment_prefers_the_own_definition():
    items, X = planted(seed=2)
    # definitions: each construct's keyed centroid (what its definition would say) plus noise
    defs = np.stack([(items.keys[items.construct_index == c, None] * X[items.construct_index == c]).mean(0)
                     for c in range(5)]) + 0.1
    al = semantic_alignment(X, defs, items.construct_index, items.keys)
    assert al["cosine"].shape == (50, 5)
    assert (al["own_minus_max"] > 0).mean() > 0.9 and al["own_minus_mean"].mean() > 0.3


def test_negative_controls_fall_to_chance():
    items, X = planted()
    rng = np.random.default_rng(0)
    ci, keys = shuffled_labels(items.construct_index, items.keys, rng)
    assert sorted(zip(ci, keys)) == sorted(zip(items.construct_index, items.keys))
    Xs = scrambled_dimensions(X, rng)
    np.testing.assert_allclose(np.sort(Xs, axis=1), np.sort(X, axis=1))
    out = analyse_layer(X, items.construct_index, items.keys, n_perm=99, n_shuffles=10)
    assert out["stats"]["domains_recovered"] == 5 and out["stats"]["congruence"] > 0.95
    sh = out["shuffled"]
    assert np.all(np.abs(sh["recovery"]) < 0.15) and np.median(sh["congruence"]) < 0.6
    # DAAL counts are coarse: every factor wins some domain, so shuffled labels still reach about 3 of 5
    # (measured: medians 3, 3, 3 over three planted matrices); destroying the signal gives 0 (the book's control)
    assert np.median(sh["domains_recovered"]) <= 3 and out["scrambled"]["domains_recovered"] <= 1
    assert out["scrambled"]["congruence"] < 0.6
    assert abs(out["scrambled"]["recovery"]) < 0.15


def test_analyse_layer_is_deterministic():
    items, X = planted()
    a = analyse_layer(X, items.construct_index, items.keys, n_perm=19, n_shuffles=3)
    b = analyse_layer(X, items.construct_index, items.keys, n_perm=19, n_shuffles=3)
    assert a["stats"] == b["stats"] and a["scrambled"] == b["scrambled"]
