"""A small recorded run laid out on disk for the dashboard's tests and benchmark.

It follows docs/store.md (one Zarr group per statistic, each with its own `step`, a `committed`
attribute) plus `config.json`, `metrics.jsonl` and one checkpoint sidecar, with planted trajectories:
an induction head (layer 1, head 2 when there are at least two layers) whose score rises as a
sigmoid around 40 % of training while its entropy falls, and a loss that decays exponentially.
When `recorders.synthetic_store.make_synthetic_store` exists it writes the store instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr
import zarr


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _write_group(store: Path, name: str, data_vars: dict, steps: np.ndarray | None, attrs: dict | None = None) -> None:
    coords = {"step": steps} if steps is not None else {}
    ds = xr.Dataset(data_vars, coords=coords, attrs=attrs or {})
    # Blocks of 64 records along step, as the store writer appends them.
    encoding = {v: {"chunks": (min(64, ds[v].shape[0]),) + ds[v].shape[1:]} for v in ds.data_vars
                if steps is not None and ds[v].dims[:1] == ("step",)}
    ds.to_zarr(store, group=name, mode="w", consolidated=False, zarr_format=3, encoding=encoding)
    if steps is not None:
        zarr.open_group(store / name, mode="r+").attrs["committed"] = int(len(steps))


def _param_sites(n_layers: int) -> list[str]:
    sites = ["wte.weight", "wpe.weight"]
    for layer in range(n_layers):
        for part in ("ln1", "attn.qkv", "attn.out", "ln2", "mlp.fc_in", "mlp.fc_out"):
            sites += [f"blocks.{layer}.{part}.weight", f"blocks.{layer}.{part}.bias"]
    return sites + ["ln_final.weight", "ln_final.bias"]


def write_store(store: Path, steps: np.ndarray, n_layers: int, n_heads: int, n_ctx: int, seed: int) -> None:
    """Write every group of docs/store.md for the given record steps."""
    rng = np.random.default_rng(seed)
    n, t = len(steps), steps / max(steps[-1], 1)
    zarr.open_group(store, mode="w", zarr_format=3).attrs.update({"schema_version": 1, "package_version": "0.1.0"})
    induction_layer, induction_head = min(1, n_layers - 1), min(2, n_heads - 1)
    onset = _sigmoid((t - 0.4) * 25)
    loss = 2.0 + 5.0 * np.exp(-4 * t) - 0.5 * onset + rng.normal(0, 0.03, n)
    _write_group(store, "loss", {
        "train_loss": ("step", loss, {"long_name": "training loss", "units": "nats"}),
        "probe_loss": ("step", loss + 0.1, {"long_name": "probe loss", "units": "nats"}),
        "icl_score": ("step", -onset + rng.normal(0, 0.02, n), {"long_name": "in-context learning score", "units": "nats"}),
    }, steps)
    _write_group(store, "optim", {
        "lr": ("step", 3e-4 * np.minimum(1, t * 10) * 0.5 * (1 + np.cos(np.pi * t)), {"units": "1"}),
        "tokens": ("step", steps * 4096, {"units": "tokens"}),
    }, steps)
    sites = _param_sites(n_layers)
    growth = {s: 1 + rng.uniform(0.1, 1.0) * t for s in sites}
    per_head = {}
    for layer in range(n_layers):
        for m in ("W_Q", "W_K", "W_V", "W_O"):
            per_head[f"blocks.{layer}.attn.{m}"] = (("step", "head_index"), 1 + np.outer(t, rng.uniform(0.1, 1, n_heads)))
    weight = {s: ("step", g * rng.uniform(1, 20), {"units": "1"}) for s, g in growth.items()} | per_head
    for s in sites:
        if s.endswith(".weight") and ("attn" in s or "mlp" in s):
            weight[f"{s}.sigma_max"] = ("step", 1 + 2 * t + rng.normal(0, 0.01, n))
            weight[f"{s}.stable_rank"] = ("step", 30 - 20 * t + rng.normal(0, 0.1, n))
    _write_group(store, "weight_norm", weight, steps)
    grads = {s: ("step", np.exp(-3 * t) * rng.uniform(0.1, 2) + rng.uniform(0, 0.05, n)) for s in sites}
    grads["global_norm"] = ("step", 2 * np.exp(-3 * t) + 0.1)
    _write_group(store, "grad_norm", grads, steps)
    _write_group(store, "update_ratio", {s: ("step", 1e-3 * np.exp(-2 * t) * rng.uniform(0.5, 2)) for s in sites}, steps)
    dims = ("step", "layer", "head_index")
    entropy = 2.5 - 1.5 * t[:, None, None] * rng.uniform(0, 1, (1, n_layers, n_heads))
    entropy[:, induction_layer, induction_head] = 2.5 - 2.0 * onset
    _write_group(store, "attn_entropy", {
        "entropy": (dims, entropy, {"units": "nats"}),
        "entropy_normalized": (dims, entropy / np.log(n_ctx), {"units": "1"}),
    }, steps)
    scores = {k: rng.uniform(0, 0.15, (n, n_layers, n_heads)) for k in ("previous_token", "first_token", "induction")}
    scores["induction"][:, induction_layer, induction_head] = 0.05 + 0.8 * onset
    scores["previous_token"][:, 0, min(1, n_heads - 1)] = 0.1 + 0.8 * _sigmoid((t - 0.2) * 25)
    _write_group(store, "head_scores", {k: (dims, v, {"units": "probability"}) for k, v in scores.items()}, steps)
    logits = rng.normal(0, 1, (n, n_layers, n_heads, n_ctx, n_ctx)) * (1 + 3 * t[:, None, None, None, None])
    logits = np.where(np.tril(np.ones((n_ctx, n_ctx), bool)), logits, -np.inf)
    pattern = np.exp(logits - logits.max(-1, keepdims=True))
    pattern = (pattern / pattern.sum(-1, keepdims=True)).astype(np.float16)
    _write_group(store, "attn_pattern", {"pattern": (dims + ("query_pos", "key_pos"), pattern, {"units": "probability"})},
                 steps, {"tokens": [int(t) for t in rng.integers(0, 500, n_ctx)]})
    act = {}
    for layer in range(n_layers):
        for stat, base in (("rms", 1.0), ("mean", 0.0), ("std", 1.0), ("kurtosis", 0.5), ("max_abs", 4.0)):
            act[f"blocks.{layer}.hook_resid_post.{stat}"] = ("step", base + (layer + 1) * t + rng.normal(0, 0.01, n))
        act[f"blocks.{layer}.mlp.hook_post.dead_fraction"] = ("step", 0.3 * t * rng.uniform(0, 1))
    _write_group(store, "act_stats", act, steps)
    n_batch, d_model = 2, 16
    direction = rng.normal(0, 1, (n_layers, n_batch, n_ctx, d_model))
    sample = {f"blocks.{layer}.hook_resid_post": (("step", "batch", "pos", "d_model"),
              (direction[layer][None] * (1 + 3 * t[:, None, None, None])
               + rng.normal(0, 0.3, (n, n_batch, n_ctx, d_model))).astype(np.float16))
              for layer in range(n_layers)}
    _write_group(store, "act_sample", sample, steps)
    half = n_ctx // 2
    tokens = np.concatenate([rng.integers(0, 500, (n_batch, half))] * 2, axis=1)
    text = np.array([[f"t{tok}" for tok in row] for row in tokens], dtype=object)  # variable-length strings
    _write_group(store, "probe", {"tokens": (("batch", "pos"), tokens), "text": (("batch", "pos"), text)},
                 None, {"repeat_length": half})


def write_run(run_dir: Path, n_records: int = 12, n_layers: int = 2, n_heads: int = 4, n_ctx: int = 8,
              every: int = 10, seed: int = 0) -> Path:
    """Lay out RUN_DIR with config.json, metrics.jsonl, a checkpoint sidecar and records.zarr; return it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = np.arange(n_records, dtype=np.int64) * every
    config = {"model": {"n_layers": n_layers, "n_heads": n_heads, "n_ctx": n_ctx, "d_model": 16},
              "train": {"lr": 3e-4, "seed": seed}, "data": {"name": "synthetic:induction"}}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    rng = np.random.default_rng(seed + 1)
    last = int(steps[-1])
    with open(run_dir / "metrics.jsonl", "w") as f:
        for step in range(1, last + 1):
            loss = 2 + 5 * np.exp(-4 * step / last) + rng.normal(0, 0.05)
            f.write(json.dumps({"event": "step", "step": step, "loss": loss, "lr": 3e-4, "grad_norm": 1.0,
                                "tokens": step * 4096, "elapsed": step * 0.1}) + "\n")
            if step % (every * 4) == 0:
                f.write(json.dumps({"event": "eval", "step": step, "val_loss": loss + 0.1,
                                    "val_ppl": float(np.exp(loss + 0.1))}) + "\n")
    ckpt = run_dir / "checkpoints"
    ckpt.mkdir(exist_ok=True)
    (ckpt / f"step_{last:06d}.json").write_text(json.dumps({"step": last, "val_loss": 2.5,
                                                            "samples": ["Once upon a time the seed grew."]}))
    write_store(run_dir / "records.zarr", steps, n_layers, n_heads, n_ctx, seed)
    return run_dir
