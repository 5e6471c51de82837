"""A complete synthetic run directory: config.json, metrics.jsonl and a planted store.

The one fake run of the project: tests, the dashboard's benchmark and anyone trying the tools
without training use it. The store is written by `make_synthetic_store` (the real StoreWriter with
the recorders' own variable descriptions); the files beside it follow docs/run_dir.md, with the
training loss of `metrics.jsonl` drawn from the same planted probe-loss curve.

    python -m recorders.synthetic_run runs/synthetic --records 200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from recorders.store import StoreError
from recorders.synthetic_plants import Planted
from recorders.synthetic_store import make_synthetic_store

__all__ = ["make_synthetic_run"]


def make_synthetic_run(
    run_dir: str | Path,
    n_records: int = 41,
    every: int = 50,
    n_layers: int = 2,
    n_heads: int = 4,
    seed: int = 0,
    *,
    pattern_len: int = 16,
    probe_len: int = 32,
    n_probe: int = 8,
    d_model: int = 16,
    eval_every: int | None = None,
) -> Planted:
    """Write a run directory at `run_dir` (created; its store must not exist) and return the planted truth.

    `metrics.jsonl` has one step line per optimizer step from 1 to the last record step (training
    loss = planted probe loss + 0.05 + N(0, 0.03^2)) and an eval line every `eval_every` steps
    (default: every 4 records). No checkpoints and no samples.jsonl: there is no model behind the
    planted numbers.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    plant = make_synthetic_store(run_dir / "records.zarr", n_records, n_layers, n_heads, every, seed, pattern_len,
                                 d_model=d_model, n_probe=n_probe, probe_len=probe_len, n_sample=4,
                                 d_vocab=1000)
    rng = np.random.default_rng(seed + 1)
    last = plant.last_step
    config = {"model": {"n_layers": n_layers, "n_heads": n_heads, "d_model": d_model, "n_ctx": probe_len,
                        "d_vocab": 1000},
              "train": {"lr": 1e-4, "seed": seed, "max_steps": last, "micro_batch_size": 8},
              "data": {"source": "synthetic (recorders.synthetic_run)"}}
    (run_dir / "config.json").write_text(json.dumps(config, indent=2))
    steps = np.arange(1, last + 1)
    loss = plant.probe_loss(steps.astype(float)) + 0.05 + rng.normal(0, 0.03, len(steps))
    lr = plant.lr(steps.astype(float))
    eval_every = eval_every or 4 * every
    with open(run_dir / "metrics.jsonl", "w") as f:
        for step, value, rate in zip(steps.tolist(), loss.tolist(), lr.tolist()):
            f.write(json.dumps({"event": "step", "step": step, "loss": value, "lr": rate, "grad_norm": 1.0,
                                "tokens": step * 8 * probe_len, "elapsed": step * 0.01}) + "\n")
            if step % eval_every == 0:
                val = float(plant.probe_loss(np.array([float(step)]))[0]) + 0.1
                f.write(json.dumps({"event": "eval", "step": step, "val_loss": val, "val_ppl": float(np.exp(val))}) + "\n")
    return plant


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recorders.synthetic_run",
        description="Write a synthetic run directory (planted trajectories, see recorders/synthetic_plants.py) "
                    "to try the workbench and the dashboard without training.")
    parser.add_argument("out", help="run directory to write (must not hold a records.zarr yet)")
    parser.add_argument("--records", type=int, default=200, help="record steps (default 200)")
    parser.add_argument("--every", type=int, default=50, help="optimizer steps between records (default 50)")
    parser.add_argument("--layers", type=int, default=2, help="layers of the imagined model (default 2)")
    parser.add_argument("--heads", type=int, default=4, help="heads per layer (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    args = parser.parse_args(argv)
    if (Path(args.out) / "records.zarr").exists():
        print(f"error: {args.out}/records.zarr exists; give a new run directory", file=sys.stderr)
        return 2
    try:
        plant = make_synthetic_run(args.out, args.records, args.every, args.layers, args.heads, args.seed)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {args.records} records; induction head {plant.induction_head}, "
          f"midpoint step {plant.induction_midpoint:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
