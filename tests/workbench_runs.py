"""Build small run directories with planted trajectories for the workbench tests (real Zarr v3 stores, docs/store.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import zarr


def _array(group, name, data, dims, long_name, units):
    arr = group.create_array(name, shape=data.shape, dtype=data.dtype, chunks=data.shape or None,
                             dimension_names=list(dims), fill_value=0)
    arr[...] = data
    arr.attrs.update(long_name=long_name, units=units, reduction="planted by the test")
    return arr


def make_run(path: Path, n_records: int = 41, every: int = 50, n_layers: int = 2, n_heads: int = 4,
             onset: float = 1000.0, width: float = 60.0, seed: int = 0, schema_version: int = 1,
             committed: int | None = None, extra_rows: int = 0) -> Path:
    """A run dir whose head (1, 2) becomes an induction head at ``onset`` (logistic), with an ICL drop and loss bump.

    ``committed`` < n_records plus ``extra_rows`` imitate a writer caught mid-append (arrays longer than the marker).
    Layer 0 head 1 is a previous-token head from step 300; layer 0 head 0 is an attention sink.
    """
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    steps = np.arange(n_records, dtype=np.int64) * every
    t = steps.astype(float)
    rise = 1 / (1 + np.exp(-(t - onset) / width))
    loss = 3.0 + 4.0 * (t + 50) ** -0.3 - 0.4 * rise + rng.normal(0, 0.01, n_records)
    icl = -0.05 - 0.5 * rise + rng.normal(0, 0.01, n_records)
    (path / "config.json").write_text(json.dumps({"model": {"n_layer": n_layers, "n_head": n_heads},
                                                  "train": {"seed": seed}}))
    lines = [json.dumps({"event": "step", "step": int(s), "loss": float(v), "lr": 1e-3, "grad_norm": 1.0,
                         "tokens": int(s) * 1024, "elapsed": float(s) / 100}) for s, v in zip(steps, loss)]
    lines.append(json.dumps({"event": "eval", "step": int(steps[-1]), "val_loss": float(loss[-1]), "val_ppl": 20.0}))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")

    shape = (n_records, n_layers, n_heads)
    prev = 0.05 + rng.uniform(0, 0.05, shape)
    first = 0.1 + rng.uniform(0, 0.05, shape)
    ind = 0.02 + rng.uniform(0, 0.02, shape)
    prev[:, 0, 1] = 0.1 + 0.7 * (t > 300)
    first[:, 0, 0] = 0.9
    ind[:, 1, 2] = 0.02 + 0.7 * rise + rng.normal(0, 0.01, n_records)
    n_items = 8
    by_item = ind[:, None] + rng.normal(0, 0.03, (n_records, n_items, n_layers, n_heads))
    entropy = 1.5 - 0.8 * rise[:, None, None] * (np.arange(n_heads) == 2) + rng.normal(0, 0.01, shape)

    d_model, n_pos = 16, 6
    base = rng.normal(size=(n_items, n_pos, d_model))
    acts = {layer: np.stack([base + (i / n_records) * rng.normal(size=base.shape) for i in range(n_records)])
            for layer in range(n_layers)}

    root = zarr.open_group(str(path / "records.zarr"), mode="w", zarr_format=3)
    root.attrs.update(schema_version=schema_version, package_version="0.1.0", config={"model": {"n_layer": n_layers}})
    rows = n_records + extra_rows

    def pad(a):  # rows past the commit marker, as a writer leaves them mid-append
        return np.concatenate([a, a[-extra_rows:]]) if extra_rows else a

    n_commit = n_records if committed is None else committed

    def group(name, variables):
        g = root.create_group(name)
        _array(g, "step", pad(steps) if rows > n_records else steps, ("step",), "optimizer step", "steps")
        for var, (data, dims, long_name, units) in variables.items():
            _array(g, var, pad(data).astype(np.float32), ("step", *dims), long_name, units)
        g.attrs.update(committed=n_commit, long_name=name)

    hd = ("layer", "head_index")
    train_loss = loss.copy()
    train_loss[0] = np.nan  # as the recorder writes it: no training step has been taken at step 0
    group("loss", {"train_loss": (train_loss, (), "training loss", "nats"), "probe_loss": (loss + 0.02, (), "probe loss", "nats"),
                   "icl_score": (icl, (), "in-context learning score", "nats")})
    group("head_scores", {"previous_token": (prev, hd, "previous-token score", "probability"),
                          "first_token": (first, hd, "first-token score", "probability"),
                          "induction": (ind, hd, "induction score", "probability"),
                          "induction_by_item": (by_item, ("batch", *hd), "induction score per item", "probability")})
    group("attn_entropy", {"entropy": (entropy, hd, "attention entropy", "nats"),
                           "entropy_normalized": (entropy / 2.5, hd, "normalised entropy", "1")})
    group("act_sample", {f"blocks.{layer}.hook_resid_post": (a, ("batch", "pos", "d_model"), "residual stream", "1")
                         for layer, a in acts.items()})
    probe = root.create_group("probe")
    _array(probe, "tokens", rng.integers(0, 100, (n_items, n_pos)), ("batch", "pos"), "probe tokens", "token id")
    probe.attrs.update(static=True)
    return path
