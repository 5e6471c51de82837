"""Recorder cost: one record step against one training step (tiny preset), bytes per record, store size.

    python -m benchmarks.recorder_overhead [--steps 5] [--every 500] [--json out.json]

Timings are ratios against a training step measured in the same run (CPU, noisy on shared machines).
Bytes are uncompressed (Zarr's default compressor shrinks them further); the projection for the
`seedling` preset counts bytes from the declared variable shapes, without building a forward pass.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from recorders.capture import collect
from recorders.groups import RecordContext, build_groups
from recorders.probe import build_probe
from recorders.spec import parse_spec
from seedling.config import preset
from seedling.model import GPT


def declared_bytes(groups, model, probe) -> dict[str, int]:
    """Uncompressed bytes of one record per group, from VarMeta dims (plus 8 for the step)."""
    cfg = model.cfg
    sizes = {"layer": cfg.n_layers, "head_index": cfg.n_heads, "batch": probe.tokens.shape[0], "d_model": cfg.d_model,
             "d_mlp": cfg.d_mlp, "query_pos": len(probe.pattern_tokens), "key_pos": len(probe.pattern_tokens)}
    out = {}
    for g in groups:
        total = 8
        labelled = {c.dim: len(c.values) for name, c in g.coords(model, probe).items() if name == c.dim}
        for m in g.variables(model, probe).values():
            pos = len(probe.sample_pos) if g.group == "act_sample" else probe.tokens.shape[1] - 1
            n = math.prod(labelled.get(d, sizes.get(d, pos)) for d in m.dims)
            total += n * m.numpy_dtype.itemsize
        out[g.group] = total
    return out


def time_steps(model, opt, groups, probe, n_steps: int, batch: int = 16) -> tuple[float, float]:
    """Median seconds of a training step and of a record step's extra work (as recorders.Recorder does it:
    each group's after_backward, one shared copy of the parameters for the groups that need it, collect)."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(0)
    train, record = [], []
    for _ in range(n_steps):
        x = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx + 1), generator=g)
        t0 = time.perf_counter()
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        train.append(time.perf_counter() - t0)
        _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        t0 = time.perf_counter()
        for rec in groups:
            rec.after_backward(model)
        before = ({n: p.detach().clone() for n, p in model.named_parameters()}
                  if any(rec.needs_before for rec in groups) else None)
        extra = time.perf_counter() - t0
        opt.step()
        opt.zero_grad(set_to_none=True)
        state = type("S", (), {"step": 1, "loss": loss.item(), "lr": 1e-3, "tokens": 0, "grad_norm": 1.0,
                               "grad_norm_clipped": 1.0, "loss_scale": 1.0})()
        t0 = time.perf_counter()
        collect(groups, RecordContext(model, probe, state, before))
        record.append(extra + time.perf_counter() - t0)
    return float(np.median(train)), float(np.median(record))


def tiny_setup(overrides: tuple[str, ...] = ()):
    """(model, optimizer, every group recorder, probe) for the tiny preset (with `overrides`), seeded: the timed case."""
    torch.manual_seed(0)
    spec = parse_spec("")
    cfg = preset("tiny", list(overrides)).model
    model = GPT(cfg)
    probe = build_probe(spec.probe, cfg.n_ctx, cfg.d_vocab, 0, spec.sample)
    groups = build_groups(spec.what, probe)
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3), groups, probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5, help="timed repetitions (median reported)")
    ap.add_argument("--every", type=int, default=500, help="record interval for the seedling projection")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    model, opt, groups, probe = tiny_setup()
    spec = parse_spec("")
    t_train, t_record = time_steps(model, opt, groups, probe, args.steps)
    tiny_bytes = declared_bytes(groups, model, probe)

    big = preset("seedling").model
    with torch.device("meta"):  # shapes only: no memory, no init cost
        big_model = GPT(big)
    big_probe = build_probe(spec.probe, big.n_ctx, big.d_vocab, 0, spec.sample)
    big_bytes = declared_bytes(build_groups(spec.what, big_probe), big_model, big_probe)
    n_records = len(parse_spec(f"every={args.every}").record_steps(227_900))
    result = {
        "train_step_s": t_train, "record_step_extra_s": t_record, "ratio": t_record / t_train,
        "tiny_bytes_per_record": tiny_bytes, "seedling_bytes_per_record": big_bytes,
        "seedling_records": n_records, "seedling_store_bytes": n_records * sum(big_bytes.values()),
    }
    print(f"tiny preset: training step {t_train * 1e3:.1f} ms, record step adds {t_record * 1e3:.1f} ms "
          f"({result['ratio']:.2f}x a training step)")
    print(f"{'group':<14}{'tiny B/record':>16}{'seedling B/record':>20}")
    for k in tiny_bytes:
        print(f"{k:<14}{tiny_bytes[k]:>16,}{big_bytes[k]:>20,}")
    print(f"seedling run, every={args.every}: {n_records} records, "
          f"{result['seedling_store_bytes'] / 2**20:,.1f} MiB uncompressed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
