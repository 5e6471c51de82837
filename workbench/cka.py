"""Implementation level: linear CKA between stored activations, across records and layers."""

from __future__ import annotations

import numpy as np
import xarray as xr

from workbench.errors import WorkbenchError, require_length


def linear_cka(X, Y) -> float:
    """Linear centred kernel alignment of two representations of the same n examples.

    Centre the columns of ``X`` (n x p1) and ``Y`` (n x p2), then
    ``CKA = ||Y^T X||_F^2 / (||X^T X||_F * ||Y^T Y||_F)``, in [0, 1]. It is 1 for X against itself,
    an orthogonal rotation of itself, or a scaled copy; it does not need p1 == p2.
    Units: dimensionless. Level: implementation. Citation: Kornblith et al. (2019), "Similarity of
    neural network representations revisited", ICML.

    >>> X = np.random.default_rng(0).normal(size=(50, 8))
    >>> round(linear_cka(X, 3 * X), 6)
    1.0
    """
    X, Y = (np.asarray(a, dtype=np.float64) for a in (X, Y))
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise WorkbenchError(f"CKA needs two (n, features) arrays with the same n; got {X.shape} and {Y.shape}")
    X = X - X.mean(0)
    Y = Y - Y.mean(0)
    num = np.linalg.norm(Y.T @ X) ** 2
    den = np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y)
    return float(num / den) if den > 0 else float("nan")


def _examples(da: xr.DataArray, feature_dim: str) -> np.ndarray:
    """(n examples, features): every dim other than the feature dim is flattened into examples."""
    other = [d for d in da.dims if d != feature_dim]
    return da.transpose(*other, feature_dim).values.reshape(-1, da.sizes[feature_dim]).astype(np.float64)


def cka_matrix(acts: xr.DataArray, dim: str = "step", feature_dim: str = "d_model") -> xr.DataArray:
    """Linear CKA between every pair of slices of ``acts`` along ``dim`` (a step x step or layer x layer matrix).

    ``acts`` holds activations with a ``feature_dim`` (``d_model``) and example dims (``batch``, ``pos``);
    any further dims (e.g. ``layer`` when ``dim="step"``) give one matrix each. Computed from centred
    Gram matrices: ``CKA = <K_a, K_b>_F / (||K_a||_F ||K_b||_F)`` with ``K = X_c X_c^T``, equal to the
    formula of :func:`linear_cka`. Returns dims ``(..., dim, dim + "_b")``. Level: implementation.
    """
    if dim not in acts.dims or feature_dim not in acts.dims:
        raise WorkbenchError(f"acts needs dims {dim!r} and {feature_dim!r}; got {acts.dims}")
    require_length(acts.sizes[dim], 2, f"a CKA matrix over {dim}")
    extra = [d for d in acts.dims if d not in (dim, feature_dim, "batch", "pos")]
    if extra:
        mats = [cka_matrix(acts.isel({extra[0]: i}), dim, feature_dim) for i in range(acts.sizes[extra[0]])]
        return xr.concat(mats, dim=acts[extra[0]] if extra[0] in acts.coords else extra[0])
    grams = []
    for i in range(acts.sizes[dim]):
        X = _examples(acts.isel({dim: i}), feature_dim)
        X -= X.mean(0)
        K = X @ X.T
        nrm = np.linalg.norm(K)
        grams.append((K / nrm if nrm > 0 else K).ravel())
    G = np.stack(grams)
    M = np.clip(G @ G.T, 0.0, 1.0)
    coords = acts[dim].values if dim in acts.coords else np.arange(acts.sizes[dim])
    return xr.DataArray(M, dims=(dim, f"{dim}_b"), coords={dim: coords, f"{dim}_b": coords}, name="cka",
                        attrs={"long_name": "linear CKA", "units": "1", "citation": "Kornblith et al. 2019"})


def cka_between(acts: xr.DataArray, a: dict, b: dict, feature_dim: str = "d_model") -> float:
    """Linear CKA between two selections of stacked activations, e.g. ``a={"step": 100, "layer": 0}``,
    ``b={"step": 2000, "layer": 1}`` (labels, as for ``DataArray.sel``); see :func:`linear_cka`."""
    return linear_cka(_examples(acts.sel(a), feature_dim), _examples(acts.sel(b), feature_dim))


def cka_to_final(acts: xr.DataArray, feature_dim: str = "d_model") -> xr.DataArray:
    """CKA of each record's activations with the final record's, per layer: ``(step)`` or ``(layer, step)``.

    How far each layer's representation is from where it ends up; 1 at the last record.
    """
    m = cka_matrix(acts, "step", feature_dim)
    return m.isel(step_b=-1).drop_vars("step_b").rename("cka_to_final")


def resid_by_layer(resid: xr.DataArray) -> xr.DataArray:
    """act_sample's `resid` (step, site, ...) -> the residual stream leaving each layer, (step, layer, ...).

    Keeps the `hook_resid_post` sites and indexes them by their `layer` coordinate (the stream
    entering layer 0, `blocks.0.hook_resid_pre`, is left out).
    """
    keep = np.flatnonzero(resid["component"].values.astype(str) == "hook_resid_post")
    out = resid.isel(site=keep).swap_dims(site="layer").drop_vars(["site", "component"])
    return out.transpose("step", "layer", ...) if "step" in out.dims else out
