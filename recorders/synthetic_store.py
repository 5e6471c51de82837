"""Write a complete synthetic record store with planted, known trajectories (for tests and dashboard checks).

Every group of docs/store.md, at the shapes a real run writes, through `StoreWriter`, so it
exercises the same code path. What is planted is described in `recorders.synthetic_plants` and
stored in the root attribute `synthetic`. Run it from the command line:

    python -m recorders.synthetic_store OUT.zarr --records 2000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from recorders.groups import build_groups
from recorders.groups.activations import residual_sites, stats_sites
from recorders.metrics.weights import HEAD_MATRICES, MATRICES
from recorders.probe import Probe
from recorders.spec import DEFAULT_GROUPS
from recorders.store import StoreError, StoreWriter
from recorders.synthetic_plants import Planted, sigmoid

__all__ = ["make_synthetic_store"]

_WORDS = "the a cat dog sat ran on under mat tree and then it was big small red blue".split()


def _shape_model(n_layers: int, n_heads: int, d_model: int, n_ctx: int, d_vocab: int) -> torch.nn.Module:
    """The imagined model on the meta device (no memory): the recorders read its names, hook points and shape."""
    from seedling.config import ModelConfig
    from seedling.model import GPT

    with torch.device("meta"):
        return GPT(ModelConfig(n_layers=n_layers, n_heads=n_heads, d_model=d_model, n_ctx=n_ctx, d_vocab=d_vocab))


def _pattern_basis(P: int, span: int) -> tuple[np.ndarray, ...]:
    """(P, P) one-hot rows for first-token, previous-token, induction targets; uniform causal; has-induction."""
    q = np.arange(P)
    first = np.zeros((P, P))
    first[:, 0] = 1
    prev = np.zeros((P, P))
    prev[q, np.maximum(q - 1, 0)] = 1
    ind = np.zeros((P, P))
    has_ind = q >= span
    ind[q[has_ind], q[has_ind] - span + 1] = 1
    unif = np.tril(np.ones((P, P))) / (q[:, None] + 1)
    return first, prev, ind, unif, has_ind.astype(float)


def make_synthetic_store(
    path: str | Path,
    n_records: int = 2000,
    n_layers: int = 8,
    n_heads: int = 8,
    every: int = 100,
    seed: int = 0,
    pattern_len: int = 32,
    *,
    d_model: int = 64,
    d_vocab: int = 50000,
    n_probe: int = 8,
    probe_len: int = 64,
    n_sample: int = 4,
    block_size: int = 64,
) -> Planted:
    """Write a store of `n_records` records (steps 0, every, 2*every, ...) at `path`; returns the planted truth.

    Shapes: heads (layer, head_index) = (n_layers, n_heads); probe batch n_probe x probe_len tokens;
    attention pattern (n_layers, n_heads, pattern_len, pattern_len) float16; act_sample (n_probe,
    n_sample, d_model) float16 per residual site. `grad_norm` and `update_ratio` start at step
    `every` (no gradient exists at step 0), as the recorders write them.
    """
    if n_records < 2 or every < 1 or pattern_len < 4 or pattern_len % 2 or probe_len < 4:
        raise StoreError(f"make_synthetic_store: n_records={n_records}, every={every}, pattern_len={pattern_len}, "
                         f"probe_len={probe_len}; need n_records >= 2, every >= 1, an even pattern_len >= 4, probe_len >= 4")
    L, H, B, T, P = n_layers, n_heads, n_probe, probe_len, pattern_len
    plant = Planted(n_records, every, L, H, T)
    rng = np.random.default_rng(seed)
    s = plant.steps.astype(np.float64)
    u = s / plant.last_step

    # ---- the stimulus set ----------------------------------------------------------------------------------
    tokens = rng.integers(0, d_vocab, size=(B, T), dtype=np.int64)
    span = T // 2
    first_half = rng.integers(0, d_vocab, size=(B, span), dtype=np.int64)
    induction_tokens = np.concatenate([first_half, first_half, rng.integers(0, d_vocab, (B, T - 2 * span))], axis=1)
    pattern_tokens = np.concatenate([tokens[0, : P // 2], tokens[0, : P // 2]])
    sample_pos = np.unique(np.linspace(0, T - 1, n_sample).round().astype(np.int64))
    text = tuple(" ".join(_WORDS[t % len(_WORDS)] for t in row) for row in tokens)
    probe = Probe(tokens, induction_tokens, span, pattern_tokens, sample_pos, "synthetic (recorders.synthetic_store)", text)

    # ---- variables, coordinates and attributes: the recorders' own descriptions ---------------------------
    model = _shape_model(L, H, d_model, T, d_vocab)
    groups = build_groups(DEFAULT_GROUPS, probe)  # the opt-in groups need inputs the synthetic store has no model for
    metas = {g.group: g.variables(model, probe) for g in groups}
    coords = {g.group: g.coords(model, probe) for g in groups}
    group_attrs = {g.group: g.group_attrs(probe) for g in groups}
    params = [n for n, _ in model.named_parameters()]
    n_pred = T - 1
    early, late = round(0.1 * (n_pred - 1)), round(0.9 * (n_pred - 1))
    stat_sites = stats_sites(list(model.hook_points))
    resid = residual_sites(L)

    # ---- trajectories over all records ---------------------------------------------------------------------
    scores = plant.head_scores(s)
    entropy = plant.entropy(s, rng)
    probe_loss = plant.probe_loss(s)
    tilt = plant.icl_tilt(s)
    lr = plant.lr(s)
    site_base = rng.uniform(0.5, 30.0, len(params))
    site_growth = rng.uniform(0.2, 1.5, len(params))
    head_base = rng.uniform(0.5, 30.0, (len(MATRICES), L, 1))
    head_growth = rng.uniform(0.2, 1.5, (len(MATRICES), L, 1))
    first, prev, ind, unif, has_ind = _pattern_basis(P, P // 2)
    x0 = rng.standard_normal((len(resid), B, len(sample_pos), d_model))
    x1 = rng.standard_normal((len(resid), B, len(sample_pos), d_model))
    depth = np.array([int(x.split(".")[1]) + (0 if x.endswith("resid_pre") else 1) for x in stat_sites])
    is_resid = np.array(["resid" in x for x in stat_sites])
    is_mlp = np.array([x.endswith("mlp.hook_post") for x in stat_sites])
    il, ih = plant.induction_head
    n_heads_mats = len(HEAD_MATRICES)

    config = {"model": {"n_layers": L, "n_heads": H, "d_model": d_model, "n_ctx": T, "d_vocab": d_vocab, "mlp_ratio": 4},
              "train": {"max_steps": plant.last_step, "lr": 1e-4, "warmup_steps": int(0.05 * plant.last_step)},
              "data": {"source": "synthetic"}}
    root_attrs = {"package_version": "synthetic", "config": config, "synthetic": plant.truth(),
                  "record_spec": {"every": every, "log": False, "what": list(metas), "probe": B, "probe_len": T,
                                  "sample": n_sample, "seed": seed}}
    with StoreWriter(path, root_attrs=root_attrs, block_size=block_size) as w:
        w.write_static("probe", probe.static_arrays(), probe.static_meta(), attrs=probe.attrs())
        for r, step in enumerate(plant.steps.tolist()):
            rec: dict[str, dict[str, np.ndarray]] = {}
            by_pos = probe_loss[r] + tilt[r] * (0.5 - np.arange(n_pred) / (n_pred - 1))
            rec["loss"] = {"train_loss": np.nan if step == 0 else probe_loss[r] + 0.05 + 0.03 * rng.standard_normal(),
                           "probe_loss": probe_loss[r], "probe_loss_by_pos": by_pos,
                           "icl_score": by_pos[late] - by_pos[early]}
            rec["optim"] = {"lr": lr[r], "tokens": np.int64(step * 256 * T)}
            growth = 1 + site_growth * np.sqrt(u[r])
            norms = site_base * growth
            rec["weight_norm"] = {"norm": norms}
            heads = np.repeat(head_base / np.sqrt(H) * (1 + head_growth * np.sqrt(u[r])), H, axis=2)  # (matrix, L, H)
            heads[:n_heads_mats, il, ih] *= 1 + 0.5 * (scores["induction"][r, il, ih] - 0.04) / 0.86
            heads[n_heads_mats:] = np.nan  # the MLP matrices have no heads
            rec["matrices"] = {"weight_norm": heads, "sigma_max": np.full((len(MATRICES), L), 0.5 + 3 * np.sqrt(u[r])),
                               "stable_rank": np.full((len(MATRICES), L), d_model * (0.1 + 0.15 * np.exp(-u[r] / 0.2)))}
            if step > 0:
                decay = (1 + step / plant.tau) ** -0.3
                grads = norms * 0.01 * decay * np.exp(0.1 * rng.standard_normal(norms.shape))
                total = float(np.sqrt(np.sum(grads**2)))
                rec["grad_norm"] = {"norm": grads, "global_norm": total, "global_norm_clipped": min(total, 0.5),
                                    "loss_scale": 65536.0}
                rec["update_ratio"] = {"ratio": (lr[r] / 1e-4) * 1e-3 * np.exp(0.1 * rng.standard_normal(norms.shape))}
                rec["matrices"]["grad_norm"] = heads * 0.01 * decay * np.exp(0.1 * rng.standard_normal(heads.shape))
                rec["matrices"]["update_ratio"] = (lr[r] / 1e-4) * 1e-3 * np.exp(0.1 * rng.standard_normal(heads.shape))
            else:
                rec["matrices"]["grad_norm"] = rec["matrices"]["update_ratio"] = np.full(heads.shape, np.nan)
            ent_items = entropy[r] + 0.02 * rng.standard_normal((B, L, H))
            rec["attn_entropy"] = {"entropy": ent_items.mean(0), "entropy_by_item": ent_items,
                                   "entropy_normalized": ent_items.mean(0) / plant.uniform_entropy(),
                                   "entropy_normalized_by_item": ent_items / plant.uniform_entropy()}
            rec["head_scores"] = {}
            for k, v in scores.items():
                items = np.clip(v[r] + 0.02 * rng.standard_normal((B, L, H)), 0, 1)
                rec["head_scores"][k] = items.mean(0)
                rec["head_scores"][f"{k}_by_item"] = items
            f_, p_, i_ = (np.minimum(scores[k][r], 0.3 if k == "first_token" else 0.9)[..., None, None]
                          for k in ("first_token", "previous_token", "induction"))
            rec["attn_pattern"] = {"pattern": f_ * first + p_ * prev + i_ * ind
                                   + np.clip(1 - f_ - p_ - i_ * has_ind[:, None], 0, None) * unif}
            rms = 1 + 0.3 * depth + 2 * u[r]
            kurt = 0.5 + np.where(is_resid, 20 * u[r] ** 2 * depth / L, 0.5 * u[r])
            mean = 0.05 * depth * u[r]
            rec["act_stats"] = {"rms": rms, "mean": mean, "std": np.sqrt(rms**2 - mean**2), "kurtosis": kurt,
                                "max_abs": rms * (3 + np.sqrt(kurt)), "dead_fraction": np.where(is_mlp, 0.01 + 0.1 * u[r], np.nan)}
            theta = np.pi / 2 * sigmoid((u[r] - 0.2 - 0.5 * np.arange(len(resid)) / L) / 0.08)[:, None, None, None]
            rec["act_sample"] = {"resid": np.cos(theta) * x0 + np.sin(theta) * x1 + 0.05 * rng.standard_normal(x0.shape)}
            for group, values in rec.items():
                w.append(group, step, values, metas[group], attrs=group_attrs[group], coords=coords[group])
    return plant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recorders.synthetic_store",
        description="Write a complete record store with planted, known trajectories (see recorders/synthetic_plants.py).")
    parser.add_argument("out", help="path of the store to write, e.g. /tmp/synthetic/records.zarr (must not exist)")
    parser.add_argument("--records", type=int, default=2000, help="number of record steps (default 2000)")
    parser.add_argument("--every", type=int, default=100, help="optimizer steps between records (default 100)")
    parser.add_argument("--layers", type=int, default=8, help="layers of the imagined model (default 8)")
    parser.add_argument("--heads", type=int, default=8, help="heads per layer (default 8)")
    parser.add_argument("--pattern-len", type=int, default=32, help="tokens in the attention-pattern sequence (even)")
    parser.add_argument("--d-model", type=int, default=64, help="residual width of act_sample (default 64)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise and the probe tokens (default 0)")
    parser.add_argument("--block", type=int, default=64,
                        help="writer block size (default 64, as training uses; larger writes faster, 64..1024)")
    args = parser.parse_args(argv)
    if Path(args.out).exists():
        print(f"error: {args.out} exists; give a new path (the synthetic store is written from scratch)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        plant = make_synthetic_store(args.out, args.records, args.layers, args.heads, args.every, args.seed,
                                     args.pattern_len, d_model=args.d_model, block_size=args.block)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.records} records to {args.out} in {time.perf_counter() - t0:.1f} s; "
          f"induction head {plant.induction_head} with midpoint step {plant.induction_midpoint:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
