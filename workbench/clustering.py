"""Implementation/algorithmic level: hierarchical clustering of heads by the shape of their trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.cluster import hierarchy

from workbench.errors import WorkbenchError, require_length


def cluster_trajectories(values: xr.DataArray, n_clusters: int = 4, method: str = "ward") -> pd.DataFrame:
    """Cluster targets (heads) by trajectory shape with agglomerative clustering (``scipy.cluster.hierarchy``).

    ``values`` is ``(step, ...)``, e.g. ``(step, layer, head_index)``; every non-step index is one target.
    Each trajectory is z-scored over steps (shape, not level or scale: a flat trajectory becomes all
    zeros), then clustered with Euclidean distance (on z-scores, ``d^2 = 2 n (1 - r)``: Pearson
    correlation distance) and ``method`` linkage (Ward 1963 by default), cut into ``n_clusters``.
    Returns one row per target (its index labels, ``cluster`` from 1); ``attrs["linkage"]`` holds the
    linkage matrix for a dendrogram. Level: descriptive grouping of heads that develop alike.
    """
    if "step" not in values.dims:
        raise WorkbenchError(f"trajectories need a step dimension; got {values.dims}")
    require_length(values.sizes["step"], 3, "trajectory clustering")
    others = [d for d in values.dims if d != "step"]
    flat = values.transpose("step", *others).stack(target=others) if others else values.expand_dims(target=[0], axis=1)
    X = flat.values.T.astype(np.float64)  # (target, step)
    if X.shape[0] < 2:
        raise WorkbenchError(f"clustering needs at least 2 trajectories, got {X.shape[0]}")
    sd = X.std(1, keepdims=True)
    Z = np.where(sd > 0, (X - X.mean(1, keepdims=True)) / np.where(sd > 0, sd, 1), 0.0)
    link = hierarchy.linkage(Z, method=method, metric="euclidean")
    labels = hierarchy.fcluster(link, t=min(n_clusters, X.shape[0]), criterion="maxclust")
    idx = flat.indexes["target"]
    if isinstance(idx, pd.MultiIndex):
        df = idx.to_frame(index=False)
    else:
        df = pd.DataFrame({others[0] if others else "target": np.asarray(idx)})
    df["cluster"] = labels
    df.attrs["linkage"] = link
    return df
