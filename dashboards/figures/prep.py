"""Pure array preparation for the figures: project and compare activations, tabulate trajectories.

Arrays and Datasets in, arrays and tables out; no files, no session state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def pca_trajectories(acts: np.ndarray, n_components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project activations over steps onto their top principal components.

    acts: (step, item, d_model) -> points (item, step, n_components) and the fraction of variance each
    component explains. PCA by eigen-decomposition of the d_model x d_model covariance of the
    mean-centred (step*item, d_model) matrix X: X^T X = V diag(lambda) V^T, scores = X V[:, :k],
    explained_k = lambda_k / sum(lambda) (Jolliffe 2002). (The same as an SVD of X, and much cheaper
    when step*item >> d_model.)
    """
    acts = np.asarray(acts, dtype=float)
    n_steps, n_items, d = acts.shape
    flat = acts.reshape(-1, d)
    flat = flat - flat.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(flat.T @ flat)
    order = np.argsort(eigval)[::-1]
    eigval, eigvec = np.clip(eigval[order], 0, None), eigvec[:, order]
    k = min(n_components, d)
    points = (flat @ eigvec[:, :k]).reshape(n_steps, n_items, k).transpose(1, 0, 2)
    explained = eigval[:k] / max(float(eigval.sum()), 1e-30)
    return points, explained


def cka_matrix(reps: list[np.ndarray]) -> np.ndarray:
    """Pairwise linear CKA (workbench.linear_cka, Kornblith et al. 2019) between representations, each (n, d)
    with the same n: a symmetric matrix with ones on the diagonal (e.g. layers at one step)."""
    # Imported here, not at the top: `import workbench` loads scipy (~0.8 s), which the pages that only
    # draw curves should not wait for (dashboards/app.py imports it in the background instead).
    from workbench import linear_cka

    k = len(reps)
    out = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            out[i, j] = out[j, i] = linear_cka(reps[i], reps[j])  # workbench's
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


def points_per_line(n_lines: int, max_points: int = 1500, total: int = 15_000, floor: int = 300) -> int:
    """How many points to draw per line when a chart has `n_lines` lines: `max_points` for a few lines, fewer
    for many, so that a chart of 33 sites sends ~15,000 points rather than ~50,000 (the browser's drawing time
    grows with the total), but never fewer than `floor` per line.

    >>> points_per_line(2), points_per_line(33), points_per_line(500)
    (1500, 454, 300)
    """
    return max(floor, min(max_points, total // max(n_lines, 1)))


def display_values(values) -> np.ndarray:
    """Values as sent to the browser: a float32 array. Plotly sends numpy arrays as base64 binary, so float32
    halves the bytes of float64 while keeping ~7 significant digits, more than a chart or its hover text shows.
    Tables and downloads keep full precision.

    >>> display_values([0.1, 2]).dtype
    dtype('float32')
    """
    return np.asarray(values, dtype=np.float32)


def samples_table_rows(samples: pd.DataFrame, decoding: str | None = None) -> pd.DataFrame:
    """Rows of Overview's samples table (step, prompt, completion) from `data.load_samples`: one decoding,
    ordered by prompt then step (so one prompt reads down the checkpoints), a completion the model ended
    early marked "[end of text]", and line breaks shown as a visible mark (a table cell would hide them,
    and a greedy model early in training often writes nothing else).

    >>> rows = samples_table_rows(pd.DataFrame({"step": [2, 1], "decoding": "greedy", "prompt": "a",
    ...                                         "completion": ["x\\n", ""], "ended": [False, True]}))
    >>> rows.values.tolist()
    [[1, 'a', ' [end of text]'], [2, 'a', 'x↵']]
    """
    rows = samples if decoding is None else samples[samples["decoding"] == decoding]
    rows = rows.sort_values(["prompt", "step"], kind="stable")
    ended = rows["ended"].map({True: " [end of text]"}).fillna("")
    out = pd.DataFrame({"step": rows["step"], "prompt": rows["prompt"].fillna(""),
                        "completion": rows["completion"].fillna("") + ended})
    for col in ("prompt", "completion"):
        out[col] = out[col].str.replace("\n", "\u21b5", regex=False)
    return out.reset_index(drop=True)
