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

from recorders.store import StoreError, StoreWriter, VarMeta
from recorders.synthetic_plants import (
    Planted,
    head_sites,
    param_sites,
    resid_sites,
    sigmoid,
    spectral_sites,
    stats_sites,
)

__all__ = ["make_synthetic_store"]

_Q = "queries 1..T-1 (query 0 sees one key and is excluded)"
_WORDS = "the a cat dog sat ran on under mat tree and then it was big small red blue".split()
_STATS = {"rms": "root mean square", "mean": "mean", "std": "standard deviation",
          "kurtosis": "excess (Fisher) kurtosis", "max_abs": "largest absolute value"}


def _m(dims, long_name, units, reduction, dtype="float32", **attrs) -> VarMeta:
    return VarMeta(tuple(dims), long_name, units, reduction, dtype, attrs)


def _per_head_metas(metrics: dict[str, tuple[str, str, str]]) -> dict[str, VarMeta]:
    out = {}
    for var, (long_name, units, red) in metrics.items():
        out[var] = _m(("layer", "head_index"), long_name, units, f"mean over probe items of: {red}")
        out[f"{var}_by_item"] = _m(("batch", "layer", "head_index"), f"{long_name} per probe item", units, red)
    return out


def _site_metas(L: int, long_name: str, units: str, red: str) -> dict[str, VarMeta]:
    out = {s: _m((), f"{long_name} of {s}", units, red) for s in param_sites(L)}
    out |= {s: _m(("head_index",), f"{long_name} of {s}", units, f"{red}, per head slice") for s in head_sites(L)}
    return out


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
    text = np.array([" ".join(_WORDS[t % len(_WORDS)] for t in row) for row in tokens], dtype=object)

    # ---- variables ----------------------------------------------------------------------------------------------
    n_pred = T - 1
    early, late = round(0.1 * (n_pred - 1)), round(0.9 * (n_pred - 1))
    metas: dict[str, dict[str, VarMeta]] = {
        "loss": {
            "train_loss": _m((), "training loss", "nats", "mean token cross-entropy of the optimizer step; NaN at step 0"),
            "probe_loss": _m((), "probe loss", "nats", "mean token cross-entropy over probe items and positions"),
            "probe_loss_by_pos": _m(("pos",), "probe loss by position", "nats",
                                    "mean over probe items; position i predicts token i+1", pos_offset=0),
            "icl_score": _m((), "in-context-learning score", "nats",
                            f"probe loss at position {late} minus at position {early}, mean over items",
                            early_pos=early, late_pos=late),
        },
        "optim": {"lr": _m((), "learning rate", "1", "value used by the optimizer step"),
                  "tokens": _m((), "tokens seen", "tokens", "cumulative training tokens", "int64")},
        "weight_norm": _site_metas(L, "Frobenius norm", "1", "sqrt of the sum of squared entries")
        | {f"{x}.sigma_max": _m((), f"largest singular value of {x}", "1", "||W||_2 of the whole matrix")
           for x in spectral_sites(L)}
        | {f"{x}.stable_rank": _m((), f"stable rank of {x}", "1", "||W||_F^2 / ||W||_2^2 of the whole matrix")
           for x in spectral_sites(L)},
        "grad_norm": _site_metas(L, "gradient norm", "1", "Frobenius norm of the unscaled, unclipped gradient")
        | {"global_norm": _m((), "global gradient norm before clipping", "1", "sqrt of the sum over all parameters"),
           "global_norm_clipped": _m((), "global gradient norm after clipping", "1", "as applied by the step"),
           "loss_scale": _m((), "AMP loss scale", "1", "1.0 without a gradient scaler")},
        "update_ratio": _site_metas(L, "update ratio", "1", "||W_after - W_before||_F / ||W_before||_F over one step"),
        "attn_entropy": _per_head_metas({
            "entropy": ("attention entropy", "nats", f"-sum_j A ln A, mean over {_Q}"),
            "entropy_normalized": ("normalised attention entropy", "1", f"H_i / ln(i+1), mean over {_Q}")}),
        "attn_pattern": {"pattern": _m(("layer", "head_index", "query_pos", "key_pos"), "attention pattern",
                                       "probability", "none: A[h, i, j] for the single pattern sequence", "float16")},
        "head_scores": _per_head_metas({
            "previous_token": ("previous-token score", "probability", f"A[i, i-1], mean over {_Q}"),
            "first_token": ("first-token (attention-sink) score", "probability", f"A[i, 0], mean over {_Q}"),
            "induction": ("induction score", "probability", "A[i, i-n+1], mean over the n queries of the repeat")}),
        "act_stats": {f"{x}.{k}": _m((), f"{name} of {x}", "1" if k == "kurtosis" else "activation units",
                                     "pooled over probe items, positions and units")
                      for x in stats_sites(L) for k, name in _STATS.items()}
        | {f"blocks.{lyr}.mlp.hook_post.dead_fraction": _m((), f"fraction of dead neurons in blocks.{lyr}.mlp.hook_post",
                                                            "1", "neurons with GELU output <= 0 at every probe token")
           for lyr in range(L)},
        "act_sample": {x: _m(("batch", "pos", "d_model"), f"residual stream {x}", "activation units",
                             "none: vectors at the sample positions (probe/sample_pos)", "float16") for x in resid_sites(L)},
    }
    group_attrs = {
        "loss": {"description": "losses in nats; probe losses on the natural probe sequences (probe/tokens)"},
        "optim": {"description": "optimizer settings at the record step"},
        "weight_norm": {"description": "parameter norms (Frobenius) and spectra after the optimizer step"},
        "grad_norm": {"description": "gradient of the record step: accumulated, unscaled, before clipping (none at step 0)"},
        "update_ratio": {"description": "relative size of the record step's parameter update (none at step 0)"},
        "attn_entropy": {"description": "attention entropy on probe/tokens"},
        "attn_pattern": {"description": "attention probabilities on probe/pattern_tokens", "tokens": pattern_tokens.tolist()},
        "head_scores": {"description": "head scores on probe/induction_tokens (Olsson et al. 2022)", "span": span},
        "act_stats": {"description": "activation moments on probe/tokens, pooled over items, positions and units"},
        "act_sample": {"description": "residual stream at probe/tokens[:, probe/sample_pos]", "sample_pos": sample_pos.tolist()},
    }

    # ---- trajectories over all records ---------------------------------------------------------------------
    scores = plant.head_scores(s)
    entropy = plant.entropy(s, rng)
    probe_loss = plant.probe_loss(s)
    tilt = plant.icl_tilt(s)
    lr = plant.lr(s)
    site_base = {x: rng.uniform(0.5, 30.0) for x in param_sites(L) + head_sites(L)}
    site_growth = {x: rng.uniform(0.2, 1.5) for x in site_base}
    first, prev, ind, unif, has_ind = _pattern_basis(P, P // 2)
    x0 = {x: rng.standard_normal((B, len(sample_pos), d_model)) for x in resid_sites(L)}
    x1 = {x: rng.standard_normal((B, len(sample_pos), d_model)) for x in resid_sites(L)}
    il, ih = plant.induction_head

    config = {"model": {"n_layers": L, "n_heads": H, "d_model": d_model, "n_ctx": T, "d_vocab": d_vocab, "mlp_ratio": 4},
              "train": {"max_steps": plant.last_step, "lr": 1e-4, "warmup_steps": int(0.05 * plant.last_step)},
              "data": {"source": "synthetic"}}
    root_attrs = {"package_version": "synthetic", "config": config, "synthetic": plant.truth(),
                  "record_spec": {"every": every, "log": False, "what": list(metas), "probe": B, "probe_len": T,
                                  "sample": n_sample, "seed": seed}}
    with StoreWriter(path, root_attrs=root_attrs, block_size=block_size) as w:
        w.write_static("probe", {"tokens": tokens, "induction_tokens": induction_tokens, "text": text}, {
            "tokens": _m(("batch", "pos"), "probe tokens", "token id", "none; source: synthetic", "int64"),
            "induction_tokens": _m(("batch", "pos"), "induction stimulus", "token id",
                                   f"none; positions 0..{span - 1} repeated at {span}..{2 * span - 1}", "int64"),
            "text": _m(("batch",), "decoded probe text", "text", "none: words standing in for tokens", "str"),
        }, attrs={"source": "synthetic (recorders.synthetic_store)", "span": span,
                  "pattern_tokens": pattern_tokens.tolist(), "sample_pos": sample_pos.tolist()})
        for r, step in enumerate(plant.steps.tolist()):
            rec: dict[str, dict[str, np.ndarray]] = {}
            by_pos = probe_loss[r] + tilt[r] * (0.5 - np.arange(n_pred) / (n_pred - 1))
            rec["loss"] = {"train_loss": np.nan if step == 0 else probe_loss[r] + 0.05 + 0.03 * rng.standard_normal(),
                           "probe_loss": probe_loss[r], "probe_loss_by_pos": by_pos,
                           "icl_score": by_pos[late] - by_pos[early]}
            rec["optim"] = {"lr": lr[r], "tokens": np.int64(step * 256 * T)}
            norms = {x: site_base[x] * (1 + site_growth[x] * np.sqrt(u[r])) for x in param_sites(L)}
            for x in head_sites(L):
                base = site_base[x] / np.sqrt(H) * (1 + site_growth[x] * np.sqrt(u[r])) * np.ones(H)
                if x.startswith(f"blocks.{il}.attn."):
                    base[ih] *= 1 + 0.5 * (scores["induction"][r, il, ih] - 0.04) / 0.86
                norms[x] = base
            rec["weight_norm"] = dict(norms)
            for x in spectral_sites(L):
                rec["weight_norm"][f"{x}.sigma_max"] = 0.5 + 3 * np.sqrt(u[r])
                rec["weight_norm"][f"{x}.stable_rank"] = d_model * (0.1 + 0.15 * np.exp(-u[r] / 0.2))
            if step > 0:
                decay = (1 + step / plant.tau) ** -0.3
                grads = {x: v * 0.01 * decay * np.exp(0.1 * rng.standard_normal(np.shape(v))) for x, v in norms.items()}
                total = float(np.sqrt(sum(float(np.sum(np.square(grads[x]))) for x in param_sites(L))))
                rec["grad_norm"] = grads | {"global_norm": total, "global_norm_clipped": min(total, 0.5),
                                            "loss_scale": 65536.0}
                rec["update_ratio"] = {x: (lr[r] / 1e-4) * 1e-3 * np.exp(0.1 * rng.standard_normal(np.shape(v)))
                                       for x, v in norms.items()}
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
            rec["act_stats"] = {}
            for x in stats_sites(L):
                depth = int(x.split(".")[1]) + (0 if x.endswith("resid_pre") else 1)
                rms = 1 + 0.3 * depth + 2 * u[r]
                kurt = 0.5 + (20 * u[r] ** 2 * depth / L if "resid" in x else 0.5 * u[r])
                mean = 0.05 * depth * u[r]
                rec["act_stats"] |= {f"{x}.rms": rms, f"{x}.mean": mean, f"{x}.std": np.sqrt(rms**2 - mean**2),
                                     f"{x}.kurtosis": kurt, f"{x}.max_abs": rms * (3 + np.sqrt(kurt))}
                if x.endswith("mlp.hook_post"):
                    rec["act_stats"][f"{x}.dead_fraction"] = 0.01 + 0.1 * u[r]
            rec["act_sample"] = {}
            for lyr, x in enumerate(resid_sites(L)):
                theta = np.pi / 2 * sigmoid((u[r] - 0.2 - 0.5 * lyr / L) / 0.08)
                rec["act_sample"][x] = np.cos(theta) * x0[x] + np.sin(theta) * x1[x] + 0.05 * rng.standard_normal(x0[x].shape)
            for group, values in rec.items():
                w.append(group, step, values, metas[group], attrs=group_attrs[group])
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
