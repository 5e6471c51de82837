"""Pseudo-factor analysis of an item similarity matrix: EFA, oblique target rotation, DAAL, congruence, RMSR.

The (centred) cosine matrix is treated as if it were a correlation matrix (there is no sample of
respondents, hence "pseudo"): k-factor EFA by minimum residuals (`factor_analyzer`), then an oblique
rotation towards the keyed target (`statsmodels.multivariate.factor_rotation`, Browne 2001), then
how well the rotated loadings recover the intended domains. Level: computational.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from factor_analyzer import FactorAnalyzer
from statsmodels.multivariate.factor_rotation import rotate_factors

from recorders.psychometrics.similarity import centred_cosine

__all__ = ["FactorResult", "blind_rotation", "daal_assignment", "efa_loadings", "parallel_analysis", "pseudo_factor_analysis", "rmsr",
           "tucker_congruence"]

DAAL_FLOOR = 0.25


@dataclass(frozen=True)
class FactorResult:
    """Rotated loadings (item, factor: factor f aimed at domain f), factor correlations and the fit summaries."""

    loadings: np.ndarray  # (item, factor)
    phi: np.ndarray  # (factor, factor) factor correlations of the oblique rotation
    unrotated: np.ndarray  # (item, factor) EFA loadings before rotation
    daal: np.ndarray  # (factor, domain) mean |loading| of the domain's items
    assigned: np.ndarray  # (factor,) domain index won by each factor, -1 when below the floor
    domains_recovered: int
    congruence: np.ndarray  # (factor,) Tucker's phi with the target column
    rmsr: float
    # The same DAAL on a rotation that never sees the labels (oblique quartimin): the factors the
    # matrix yields by itself. A target rotation pulls factor f towards domain f for any labels, so
    # its DAAL count is high even for shuffled labels; the blind count is the fair "domains recovered".
    blind_loadings: np.ndarray  # (item, factor), factors in the rotation's own order
    blind_daal: np.ndarray  # (factor, domain)
    blind_assigned: np.ndarray  # (factor,)
    blind_domains_recovered: int


def efa_loadings(S, k: int) -> np.ndarray:
    """Unrotated k-factor minimum-residual EFA loadings of the symmetric matrix S (item, item), via factor_analyzer.

    `FactorAnalyzer(n_factors=k, rotation=None, method="minres", is_corr_matrix=True, use_smc=False)`.
    Why no SMC start: a centred cosine matrix of n items has rank <= n - 1 (the centred vectors sum
    to zero), so it has no inverse and the squared multiple correlations are undefined; the minres
    objective is the same from the default start of 0.5 uniquenesses. Harman & Jones (1966).
    """
    S = np.asarray(S, dtype=np.float64)
    fa = FactorAnalyzer(n_factors=k, rotation=None, method="minres", is_corr_matrix=True, use_smc=False)
    with warnings.catch_warnings():  # a non-converged fit is still reported through its RMSR
        warnings.simplefilter("ignore")
        fa.fit(S)
    return np.asarray(fa.loadings_)


def tucker_congruence(x, y) -> float:
    """Tucker's congruence `phi = sum x y / sqrt(sum x^2 sum y^2)` of two loading columns. Units: 1, in [-1, 1].

    Read: >= .95 the factors are equal, .85-.94 fair similarity (Lorenzo-Seva & ten Berge 2006,
    Methodology 2:57-64); Tucker (1951).

    >>> round(tucker_congruence([0.8, 0.7, 0.0], [1, 1, 0]), 4)
    0.9978
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    den = np.sqrt((x**2).sum() * (y**2).sum())
    return float((x * y).sum() / den) if den > 0 else float("nan")


def daal_assignment(loadings, domain_index, n_domains: int, floor: float = DAAL_FLOOR) -> tuple[np.ndarray, np.ndarray, int]:
    """Dominant average absolute loading: (DAAL (factor, domain), assigned domain per factor, domains recovered).

    `DAAL_{f,d} = mean_{i in d} |lambda_{i,f}|`; factor f is assigned to `argmax_d DAAL_{f,d}` when
    that maximum is >= `floor` (0.25), else to none (-1). A domain is recovered when exactly one
    factor is assigned to it (duplicate winners are rejected: two factors on one domain recover it
    no better than a split scale). Units: DAAL in loading units; the count in domains (0..n_domains).
    """
    L = np.abs(np.asarray(loadings, dtype=np.float64))
    d = np.asarray(domain_index)
    daal = np.stack([L[d == j].mean(axis=0) for j in range(n_domains)], axis=1)  # (factor, domain)
    best = daal.argmax(axis=1)
    assigned = np.where(daal.max(axis=1) >= floor, best, -1)
    counts = np.bincount(assigned[assigned >= 0], minlength=n_domains)
    return daal, assigned, int((counts == 1).sum())


def rmsr(S, loadings, phi) -> float:
    """Root mean square of the off-diagonal residuals `S - L Phi L^T` (upper triangle). Units: those of S.

    With no sample size there is no chi-square, CFI or RMSEA; RMSR is the descriptive fit left.
    """
    S = np.asarray(S, dtype=np.float64)
    L = np.asarray(loadings, dtype=np.float64)
    R = S - L @ np.asarray(phi) @ L.T
    return float(np.sqrt(np.mean(R[np.triu_indices(len(S), k=1)] ** 2)))


def pseudo_factor_analysis(S, target, domain_index, floor: float = DAAL_FLOOR, unrotated=None) -> FactorResult:
    """EFA of S with k = target's columns, oblique target rotation to `target`, then DAAL, congruence and RMSR.

    `target` (item, k): the keyed loadings (key_i in the item's domain column, 0 elsewhere). Rotation:
    `rotate_factors(A, "target", H, "oblique", T=T0)` (gradient projection; Jennrich 2002; Browne
    2001), started at the orthogonal Procrustes rotation `T0` (`algorithm="analytic"`; Schoenemann
    1966), minimises `||L - H||^2` over oblique rotations `L = A (T^T)^{-1}`, so factor f is the one aimed
    at domain f; `Phi = T^T T`. Congruence: `tucker_congruence(L[:, f], H[:, f])` per factor.
    DAAL is counted twice: on L (`domains_recovered`, as a target-rotation study reports it) and on
    the label-blind quartimin rotation (`blind_domains_recovered`; see FactorResult).
    `unrotated`: EFA loadings of S already computed (the EFA does not depend on the target, so the
    label-shuffling control rotates one EFA towards many targets; the EFA is the slow part).
    """
    H = np.asarray(target, dtype=np.float64)
    k = H.shape[1]
    A = efa_loadings(S, k) if unrotated is None else np.asarray(unrotated)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Start the oblique search at the orthogonal Procrustes solution (Schoenemann 1966), not at the
        # identity: from the identity the gradient projection stalled in a poor local minimum on a
        # clean planted matrix (objective 27.7 instead of 0.9, congruence 0.75 instead of 0.99).
        _, T0 = rotate_factors(A, "target", H, "orthogonal", algorithm="analytic")
        L, T = rotate_factors(A, "target", H, "oblique", T=T0)
        B = blind_rotation(A)
    phi = T.T @ T
    daal, assigned, recovered = daal_assignment(L, domain_index, k, floor)
    congruence = np.array([tucker_congruence(L[:, f], H[:, f]) for f in range(k)])
    b_daal, b_assigned, b_recovered = daal_assignment(B, domain_index, k, floor)
    return FactorResult(L, phi, A, daal, assigned, recovered, congruence, rmsr(S, L, phi), B, b_daal, b_assigned,
                        b_recovered)


def blind_rotation(A) -> np.ndarray:
    """Oblique quartimin rotation of the loadings A (oblimin with gamma = 0; Jennrich 2002), blind to any labels.

    `rotate_factors(A, "oblimin", 0, "oblique")`; the simple structure the matrix yields by itself,
    against which DAAL counts the domains recovered without telling the rotation what they are.
    """
    if A.shape[1] < 2:
        return np.asarray(A)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        L, _ = rotate_factors(np.asarray(A), "oblimin", 0, "oblique")
    return L


def parallel_analysis(S, d: int, n_random: int = 50, quantile: float = 0.95, seed: int = 0) -> dict[str, object]:
    """How many eigenvalues of S exceed those of centred cosine matrices of random unit vectors.

    Null: n random unit vectors in d dimensions (isotropic Gaussian, normalised), centred and
    cosined as the items were; the `quantile` of each ranked eigenvalue over `n_random` draws.
    `n_factors` = the number of leading eigenvalues of S above their null quantile (stopping at the
    first that is not). Horn (1965), Psychometrika 30:179-185. Units: eigenvalues of a matrix with unit diagonal.
    """
    S = np.asarray(S, dtype=np.float64)
    n = len(S)
    rng = np.random.default_rng(seed)
    observed = np.sort(np.linalg.eigvalsh(S))[::-1]
    null = np.stack([np.sort(np.linalg.eigvalsh(centred_cosine(rng.standard_normal((n, d)))))[::-1]
                     for _ in range(n_random)])
    threshold = np.quantile(null, quantile, axis=0)
    above = observed > threshold
    n_factors = int(np.argmin(above)) if not above.all() else n
    return {"eigenvalues": observed, "null_quantile": threshold, "n_factors": n_factors}
