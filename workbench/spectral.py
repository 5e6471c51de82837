"""Implementation level: spectra of weight matrices (singular values, ranks, heavy-tail exponent alpha)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)

#: Below this many tail eigenvalues the power-law fit cannot tell a power law from other heavy tails
#: (Clauset, Shalizi & Newman 2009 show the MLE and the KS test are unreliable under about 50 points).
MIN_RELIABLE_TAIL = 50


def singular_values(W) -> np.ndarray:
    """Singular values of a 2-D matrix, largest first (``s_1 = ||W||_2``)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise WorkbenchError(f"spectra need a 2-D weight matrix, got shape {W.shape}")
    return np.linalg.svd(W, compute_uv=False)


def effective_rank(s) -> float:
    """Effective rank (Roy & Vetterli 2007): ``exp(-sum_k p_k ln p_k)``, ``p_k = s_k / sum s``. Units: dimensions."""
    s = np.asarray(s, dtype=np.float64)
    p = s[s > 0] / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def stable_rank(s) -> float:
    """Stable rank ``||W||_F^2 / ||W||_2^2 = sum s_k^2 / s_1^2`` (from singular values). Units: dimensions."""
    s = np.asarray(s, dtype=np.float64)
    return float((s**2).sum() / s.max() ** 2)


def powerlaw_alpha(eigenvalues, min_tail: int = 10) -> dict:
    """Heavy-tail exponent of an eigenvalue spectrum, as weightwatcher computes it.

    Continuous power-law MLE on the tail ``x >= xmin``: ``alpha = 1 + n_tail / sum ln(x_i / xmin)``,
    standard error ``(alpha - 1) / sqrt(n_tail)``; ``xmin`` is the candidate (each eigenvalue, keeping at
    least ``min_tail`` points) that minimises the Kolmogorov-Smirnov distance
    ``D = max |S(x) - (1 - (x / xmin)^(1 - alpha))|`` between the empirical and fitted tail CDFs.
    Units: dimensionless. Level: implementation. Martin & Mahoney (2021, JMLR) read alpha ~ 2-4 as
    well-trained layers, alpha > 6 as little learned structure. ``alpha_warning`` is non-empty when
    the tail has fewer than ``MIN_RELIABLE_TAIL`` (50) eigenvalues: a tiny model's matrices give ~12. Citation: Clauset, Shalizi & Newman
    (2009), SIAM Review; Martin & Mahoney (2021).
    """
    x = np.sort(np.asarray(eigenvalues, dtype=np.float64))
    x = x[x > 0]
    if len(x) < min_tail + 1:
        raise WorkbenchError(f"alpha needs at least {min_tail + 1} positive eigenvalues, got {len(x)}")
    best = None
    for i in range(len(x) - min_tail + 1):
        xmin, tail = x[i], x[i:]
        logs = np.log(tail / xmin).sum()
        if logs <= 0:
            continue
        alpha = 1 + len(tail) / logs
        cdf_fit = 1 - (tail / xmin) ** (1 - alpha)
        cdf_emp = np.arange(len(tail)) / len(tail)
        d = float(np.max(np.abs(np.concatenate([cdf_emp - cdf_fit, cdf_emp + 1 / len(tail) - cdf_fit]))))
        if best is None or d < best["ks_d"]:
            best = {"alpha": float(alpha), "alpha_se": float((alpha - 1) / np.sqrt(len(tail))),
                    "xmin": float(xmin), "ks_d": d, "n_tail": len(tail)}
    if best is None:
        raise WorkbenchError("alpha is undefined: all eigenvalues are equal")
    best["alpha_warning"] = (f"n_tail = {best['n_tail']} < {MIN_RELIABLE_TAIL}: too few tail eigenvalues for a "
                             "reliable power-law fit" if best["n_tail"] < MIN_RELIABLE_TAIL else "")
    return best


def spectral_summary(W) -> dict:
    """Spectral statistics of one weight matrix: Frobenius norm, ``s_1``, stable and effective rank, alpha.

    alpha is fitted to the eigenvalues of ``W^T W / N`` (``lambda_k = s_k^2 / N``, N the larger dimension).
    """
    W = np.asarray(W, dtype=np.float64)
    s = singular_values(W)
    out = {"rows": W.shape[0], "cols": W.shape[1], "frobenius": float(np.sqrt((s**2).sum())),
           "sigma_max": float(s[0]), "stable_rank": stable_rank(s), "effective_rank": effective_rank(s)}
    try:
        out.update(powerlaw_alpha(s**2 / max(W.shape), min_tail=min(10, max(3, len(s) // 4))))
    except WorkbenchError as e:
        log.info("no alpha for a %s matrix: %s", W.shape, e)
        out.update(alpha=float("nan"), alpha_se=float("nan"), xmin=float("nan"), ks_d=float("nan"), n_tail=0,
                   alpha_warning=str(e))
    return out


class UnverifiedCheckpointError(WorkbenchError):
    """A checkpoint that fails verification (hash, sidecar, step or run identity): never read."""


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """A checkpoint's parameters as numpy arrays, read only after it verifies.

    Every checkpoint goes through seedling's one verified loader (`seedling.train.checkpoint_io`:
    the SHA-256 in the JSON sidecar, then step, config and run identity; `.pt` files are loaded
    with `weights_only=True`). One that fails raises UnverifiedCheckpointError. torch is imported
    here only, so `import workbench` stays torch-free.
    """
    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"checkpoint {path} does not exist")
    from seedling.train import checkpoint_io as ckpt  # lazily: imports torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            ckpt.verify(path)
            return dict(load_file(str(path)))
        obj, _side = ckpt.load_verified(path)
    except ckpt.CheckpointError as e:
        raise UnverifiedCheckpointError(str(e)) from None
    state = obj.get("model", obj)
    if not isinstance(state, dict):
        raise WorkbenchError(f"{path} holds no state dict (expected a dict of tensors, or one under 'model')")
    return {k: v.float().numpy() for k, v in state.items() if hasattr(v, "numpy")}


def checkpoint_spectra(path: str | Path, include: str = r".*weight$") -> pd.DataFrame:
    """Spectral summary of every 2-D weight in a checkpoint whose name matches ``include``.

    The fused ``attn.qkv.weight`` is split into ``attn.W_Q``, ``attn.W_K``, ``attn.W_V`` (rows
    ``[0:D]``, ``[D:2D]``, ``[2D:3D]``), named as in the store. One row per matrix.
    """
    rows = []
    for name, W in load_weights(path).items():
        if W.ndim != 2 or not re.fullmatch(include, name):
            continue
        mats = {name: W}
        if name.endswith("attn.qkv.weight"):
            d = W.shape[0] // 3
            base = name[: -len("qkv.weight")]
            mats = {f"{base}W_{q}": W[i * d:(i + 1) * d] for i, q in enumerate("QKV")}
        for n, m in mats.items():
            rows.append({"matrix": n, **spectral_summary(m)})
    return pd.DataFrame(rows)


def spectra_over_checkpoints(checkpoints, include: str = r".*weight$") -> pd.DataFrame:
    """:func:`checkpoint_spectra` for each ``workbench.run.Checkpoint``, with a ``step`` column.

    Checkpoints that fail verification are skipped with a warning; their reasons are listed in
    ``df.attrs["skipped"]``. None left: WorkbenchError.
    """
    frames, skipped = [], []
    for c in checkpoints:
        try:
            frames.append(checkpoint_spectra(c.path, include).assign(step=c.step))
        except UnverifiedCheckpointError as e:
            log.warning("skipping %s: %s", c.path, e)
            skipped.append(str(e))
    if not frames:
        why = f": {len(skipped)} failed verification ({skipped[0]})" if skipped else ""
        raise WorkbenchError(f"no verified checkpoint to compute weight spectra from{why}; "
                             "train with checkpointing on (checkpoints/step_*.pt with their .json sidecars)")
    df = pd.concat(frames, ignore_index=True)
    df.attrs["skipped"] = skipped
    return df
