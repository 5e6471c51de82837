"""Negative controls and the whole per-layer analysis: what the statistics read when the structure is destroyed.

A target rotation fits any matrix towards any target, so its DAAL and congruence are above zero
even on noise: the numbers mean something only against the same pipeline run where no structure
can exist. Two controls (the book's: the domains recovered fall from 5/5 to 0/5 as signal is destroyed):

- shuffled labels: the items' (construct, key) pairs permuted across items; the similarity matrix
  and its EFA are unchanged, only the target moves. Null band: `n_shuffles` permutations.
- scrambled dimensions: each item's embedding has its coordinates permuted independently, which
  keeps each vector's norm and values but destroys every shared direction.

Level: computational (the null against which recovery is read).
"""

from __future__ import annotations

import numpy as np

from recorders.psychometrics.factors import FactorResult, pseudo_factor_analysis
from recorders.psychometrics.similarity import centred_cosine, keyed_target, structure_recovery, top_k_hit_rate

__all__ = ["analyse_layer", "scrambled_dimensions", "shuffled_labels"]


def shuffled_labels(construct_index, keys, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The (construct, key) label pairs permuted across items (together, so each construct keeps its key mix)."""
    p = rng.permutation(len(keys))
    return np.asarray(construct_index)[p], np.asarray(keys)[p]


def scrambled_dimensions(X, rng: np.random.Generator) -> np.ndarray:
    """Each row of X (item, d) with its coordinates permuted independently."""
    X = np.asarray(X)
    return np.take_along_axis(X, rng.permuted(np.tile(np.arange(X.shape[1]), (len(X), 1)), axis=1), axis=1)


def _target(construct_index, keys, k: int) -> np.ndarray:
    H = np.zeros((len(keys), k))
    H[np.arange(len(keys)), construct_index] = keys
    return H


def _summary(S: np.ndarray, construct_index, keys, k: int, n_perm: int, seed: int,
             unrotated=None) -> tuple[dict, FactorResult]:
    rec = structure_recovery(S, keyed_target(construct_index, keys), n_perm, seed)
    fr = pseudo_factor_analysis(S, _target(construct_index, keys, k), construct_index, unrotated=unrotated)
    return {"recovery": rec["pearson"], "recovery_spearman": rec["spearman"], "mantel_p": rec["mantel_p"],
            "hit_rate": top_k_hit_rate(S, construct_index), "domains_recovered": fr.blind_domains_recovered,
            "domains_recovered_target": fr.domains_recovered,
            "congruence": float(np.mean(fr.congruence)), "rmsr": fr.rmsr}, fr


def analyse_layer(X, construct_index, keys, correlations=None, n_perm: int = 199, n_shuffles: int = 10,
                  seed: int = 0) -> dict[str, object]:
    """Every statistic of one layer's item embeddings X (item, d), with its negative controls.

    Returns: `centred` (item, item) centred cosines; `factors` (FactorResult on the keyed target);
    `stats` {recovery, recovery_spearman, mantel_p, hit_rate, domains_recovered (DAAL on the
    label-blind rotation), domains_recovered_target (DAAL on the target rotation), congruence (mean
    over factors), rmsr}; `empirical` {pearson, spearman, mantel_p} against `correlations` when
    given; `shuffled` the same stats for each of `n_shuffles` label permutations (dict of arrays);
    `scrambled` the stats with scrambled dimensions. Seeded: the same X gives the same numbers.
    """
    construct_index, keys = np.asarray(construct_index), np.asarray(keys)
    k = int(construct_index.max()) + 1
    S = centred_cosine(X)
    stats, fr = _summary(S, construct_index, keys, k, n_perm, seed)
    rng = np.random.default_rng(seed)
    shuffled = [_summary(S, *shuffled_labels(construct_index, keys, rng), k, 0, seed, fr.unrotated)[0]
                for _ in range(n_shuffles)]
    scrambled = _summary(centred_cosine(scrambled_dimensions(X, rng)), construct_index, keys, k, 0, seed)[0]
    out: dict[str, object] = {"centred": S, "factors": fr, "stats": stats, "scrambled": scrambled,
                              "shuffled": {name: np.array([s[name] for s in shuffled]) for name in stats}}
    if correlations is not None:
        out["empirical"] = structure_recovery(S, correlations, n_perm, seed)
    return out
