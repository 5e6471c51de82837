"""Item similarity: (centred) cosine matrices, their agreement with the keyed structure, Mantel test, hit rate.

An item's embedding is a vector x_i (d_model); the item x item cosine matrix is read like a
correlation matrix ("embedding psychometrics"). Decoder representations are anisotropic (every
vector shares a large common direction, so raw cosines sit near 1 and say little); centring on the
item-set mean first removes that common part (Ethayarajh 2019; Mu & Viswanath 2018).
Level: computational (what the representation says about the items' relations).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["centred_cosine", "cosine_matrix", "keyed_target", "mantel_test", "semantic_alignment",
           "structure_recovery", "top_k_hit_rate"]


def cosine_matrix(X) -> np.ndarray:
    """Raw cosine similarity `S_ij = x_i . x_j / (|x_i| |x_j|)` of the rows of X (n, d). Units: 1, in [-1, 1].

    >>> cosine_matrix([[1.0, 0.0], [1.0, 1.0]]).round(4).tolist()
    [[1.0, 0.7071], [0.7071, 1.0]]
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.where(norms > 0, norms, 1.0)
    return np.clip(U @ U.T, -1.0, 1.0)


def centred_cosine(X) -> np.ndarray:
    """Centred cosine: the cosine matrix of `x_i - mean_j x_j` (the mean over the item set). Units: 1.

    It is the cosine after removing the common direction: two items that differ from the set's
    average in the same way score near +1, in opposite ways near -1. Ethayarajh (2019), "How contextual are contextualized
    word representations?"; Mu & Viswanath (2018), "All-but-the-top".

    >>> centred_cosine([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).round(3)[0].tolist()
    [1.0, -1.0, 0.5]
    """
    X = np.asarray(X, dtype=np.float64)
    return cosine_matrix(X - X.mean(axis=0))


def keyed_target(constructs, keys) -> np.ndarray:
    """Keyed structure `T_ij = key_i key_j` when items i, j share a construct, else 0 (diagonal 1).

    +1: same construct, same key; -1: same construct, opposite keys; 0: different constructs.
    """
    c = np.asarray(constructs)
    k = np.asarray(keys, dtype=np.float64)
    return (c[:, None] == c[None, :]) * np.outer(k, k)


def _upper(M: np.ndarray) -> np.ndarray:
    return M[np.triu_indices(len(M), k=1)]


def mantel_test(A, B, n_perm: int = 999, seed: int = 0) -> tuple[float, float]:
    """(r, p): Pearson r between the off-diagonal entries of two symmetric matrices, and a one-sided Mantel p.

    The null permutes the item labels of A jointly on rows and columns (the entries of a distance
    matrix are not independent, so a plain correlation test is wrong):
    `p = (1 + #{perm: r_perm >= r}) / (1 + n_perm)`. Mantel (1967), Cancer Research 27:209-220.
    Units: r in [-1, 1]; p a probability.
    """
    A, B = np.asarray(A, dtype=np.float64), np.asarray(B, dtype=np.float64)
    b = _upper(B)
    r = float(np.corrcoef(_upper(A), b)[0, 1])
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(len(A), k=1)
    hits = 0
    for _ in range(n_perm):
        p = rng.permutation(len(A))
        hits += np.corrcoef(A[np.ix_(p, p)][iu], b)[0, 1] >= r
    return r, float((1 + hits) / (1 + n_perm))


def structure_recovery(S, target, n_perm: int = 999, seed: int = 0) -> dict[str, float]:
    """Agreement of a similarity matrix S with a target structure (keyed target or empirical correlations).

    Over the n(n-1)/2 off-diagonal pairs: Pearson r and Spearman rho between S_ij and target_ij, and
    the Mantel permutation p of r (`mantel_test`). Units: r, rho in [-1, 1]; p a probability.
    Chance: r near 0. Level: computational.
    """
    S, target = np.asarray(S, dtype=np.float64), np.asarray(target, dtype=np.float64)
    r, p = mantel_test(S, target, n_perm, seed)
    rho = float(stats.spearmanr(_upper(S), _upper(target)).statistic)
    return {"pearson": r, "spearman": rho, "mantel_p": p}


def top_k_hit_rate(S, constructs, k: int = 3) -> float:
    """Mean over items of the fraction of its k nearest items (largest |S_ij|, j != i) in its own construct.

    |S| so that a reverse-keyed item of the same construct (similarity near -1) counts as near.
    Chance: `sum_c n_c (n_c - 1) / (n (n - 1))` (about 0.18 for 5 constructs of 10 items). Units: 1, in [0, 1].
    """
    A = np.abs(np.asarray(S, dtype=np.float64)).copy()
    np.fill_diagonal(A, -np.inf)
    c = np.asarray(constructs)
    nearest = np.argsort(-A, axis=1, kind="stable")[:, :k]
    return float((c[nearest] == c[:, None]).mean())


def semantic_alignment(items, definitions, construct_index, keys) -> dict[str, np.ndarray]:
    """Alignment of each item with its construct's definition, against the other definitions.

    Both are embedded by the same model; both are centred on the item-set mean. With `a_id` the
    cosine of item i with definition d: `own_minus_mean_i = a_i,c(i) - mean_{d != c(i)} a_i,d` and
    `own_minus_max_i = a_i,c(i) - max_{d != c(i)} a_i,d` (> 0: the own definition is the nearest).
    Items are keyed: a reverse-keyed item's cosine is multiplied by -1 (it should point away from its
    definition). Units: cosine differences, in [-2, 2]. Returns the keyed (item, construct) cosines too.
    """
    items = np.asarray(items, dtype=np.float64)
    mean = items.mean(axis=0)
    A = cosine_matrix(np.vstack([items - mean, np.asarray(definitions, dtype=np.float64) - mean]))
    n = len(items)
    cos = A[:n, n:] * np.asarray(keys, dtype=np.float64)[:, None]  # (item, construct), keyed
    own = cos[np.arange(n), construct_index]
    others = np.where(np.eye(cos.shape[1], dtype=bool)[construct_index], np.nan, cos)
    return {"cosine": cos, "own_minus_mean": own - np.nanmean(others, axis=1),
            "own_minus_max": own - np.nanmax(others, axis=1)}
