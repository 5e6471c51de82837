"""Pure array preparation for the figures: pick sites, tabulate site x step, project and compare activations.

Arrays and Datasets in, arrays and tables out; no files, no session state.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import xarray as xr

LAYER_RE = re.compile(r"^blocks\.(\d+)\.")


def site_layer(site: str) -> int | None:
    """The layer index in a site name (`blocks.3.attn.qkv.weight` -> 3), None for embeddings and ln_final."""
    m = LAYER_RE.match(site)
    return int(m.group(1)) if m else None


def step_sites(ds: xr.Dataset, layers: list[int] | None = None, contains: str = "") -> list[str]:
    """Variables of `ds` with dims exactly (step,), optionally only in `layers` and containing `contains`."""
    out = []
    for name, var in ds.data_vars.items():
        if var.dims != ("step",) or contains not in name:
            continue
        layer = site_layer(name)
        if layers is not None and layer is not None and layer not in layers:
            continue
        out.append(str(name))
    return out


def site_table(ds: xr.Dataset, sites: list[str]) -> pd.DataFrame:
    """Rows: sites; columns: steps; values: the statistic. Missing sites are left out."""
    sites = [s for s in sites if s in ds]
    if not sites:
        return pd.DataFrame()
    values = np.stack([ds[s].values.astype(float) for s in sites])
    return pd.DataFrame(values, index=sites, columns=ds["step"].values.astype(int))


def pca_trajectories(acts: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project activations over steps onto their top principal components.

    acts: (step, item, d_model) -> points (item, step, n_components) and the fraction of variance each
    component explains. PCA via SVD of the mean-centred (step*item, d_model) matrix: X = U S V^T,
    scores = X V[:, :k], explained_k = S_k^2 / sum S^2 (Jolliffe 2002).
    """
    acts = np.asarray(acts, dtype=float)
    n_steps, n_items, d = acts.shape
    flat = acts.reshape(-1, d)
    flat = flat - flat.mean(axis=0)
    _, s, vt = np.linalg.svd(flat, full_matrices=False)
    k = min(n_components, vt.shape[0])
    points = (flat @ vt[:k].T).reshape(n_steps, n_items, k).transpose(1, 0, 2)
    explained = (s[:k] ** 2) / max(float((s ** 2).sum()), 1e-30)
    return points, explained


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear centred kernel alignment between two representations of the same n examples.

    CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) with X, Y column-centred, shape (n, d);
    1 means identical up to rotation and scale, 0 unrelated (Kornblith et al. 2019).
    """
    x = np.asarray(x, float) - np.mean(x, axis=0)
    y = np.asarray(y, float) - np.mean(y, axis=0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else float("nan")


def cka_matrix(reps: list[np.ndarray]) -> np.ndarray:
    """Pairwise linear CKA between representations (each (n, d), same n): a symmetric matrix with ones on the diagonal."""
    k = len(reps)
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = linear_cka(reps[i], reps[j])
    return out


def nearest_step(steps: np.ndarray, step: int) -> int:
    """The recorded step closest to `step` (ties go to the earlier one)."""
    steps = np.asarray(steps)
    return int(steps[np.argmin(np.abs(steps - step))])


def trajectories(groups: dict[str, xr.Dataset | None], layer: int = 0, head: int = 0) -> dict[str, pd.Series]:
    """Named 1-D trajectories (index: step) from several groups: every (step,) variable of each group,
    and every (step, layer, head_index) variable at the given head, named "group/variable[ L{l}H{h}]"."""
    out: dict[str, pd.Series] = {}
    for gname, ds in groups.items():
        if ds is None:
            continue
        steps = ds["step"].values.astype(int)
        for vname, var in ds.data_vars.items():
            if var.dims == ("step",):
                out[f"{gname}/{vname}"] = pd.Series(var.values.astype(float), index=steps)
            elif var.dims == ("step", "layer", "head_index"):
                values = var.isel(layer=layer, head_index=head).values.astype(float)
                out[f"{gname}/{vname} L{layer}H{head}"] = pd.Series(values, index=steps)
    return out


def align_runs(series: dict[str, pd.Series]) -> pd.DataFrame:
    """Runs' series on their common steps (columns: runs); steps missing from any run are dropped."""
    table = pd.DataFrame(series)
    return table.dropna()


def thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most `max_points` evenly spaced items out of `n`, always keeping the first and last.

    Charts draw at most a few thousand points per line: more are invisible at screen width and make
    the browser slow. The data and downloads keep every record.
    """
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
